"""Narrow fixes that MMRazor 1.0.0 and mmengine 0.10.7 need for mmakd.

1. :mod:`~mmakd_compat.mmrazor_torch2`: ``import mmrazor.models`` fails on
   torch 2.x; two of its modules are compiled with their torch gate narrowed,
   as upstream did after the release.
2. :mod:`~mmakd_compat.checkpoint`: torch >= 2.6 refuses the checkpoints that
   mmengine's Runner writes; exactly the globals they hold are allow-listed.
3. :mod:`~mmakd_compat.razor_cfg_path`: MMRazor builds ``cfg_path``
   sub-models with ``mmengine.hub.get_model``, which takes ``pkg::path``
   only; its registry's lookup of that function is pointed at one that also
   builds config files.
4. :mod:`~mmakd_compat.mmakd_configs`: mmengine refuses ``mmakd::`` config
   names and does not find an editable install's configs; the three
   functions of its config lookup that decide are wrapped for ``mmakd``.
5. :mod:`~mmakd_compat.onedl_forks`: on the ONEDL forks of OpenMMLab's
   packages (``onedl-mmcv``, ``-mmengine``, ``-mmdetection``,
   ``-mmsegmentation``), MMRazor's mmcv version gate is widened to the
   fork's tested mmcv, and mmengine's package lookups find a project's fork
   (``mmseg::`` configs); on OpenMMLab's own packages it does nothing.

Each fix acts when the module it repairs is imported, through one finder on
``sys.meta_path`` (:func:`install`). ``pip install`` of mmakd puts
``mmakd-import-hook.pth`` in site-packages, whose one line calls
:func:`install` at interpreter start-up, so that MMRazor's own tools (which
import ``mmrazor.models`` before a config's ``custom_imports`` is read) and
mmdet's, mmseg's and MMRazor's ``train.py`` (which parse a config's
``_base_`` before its ``custom_imports``) work. That line imports this
package only: ``os``, ``sys`` and ``importlib``, no torch and no mmengine
(the modules of fixes 3 to 5 are imported when a module they fix is).
Set ``MMAKD_NO_IMPORT_HOOK=1`` to switch the start-up hook off;
``import mmakd`` still applies every fix (to the modules already imported
too, where a fix can be applied afterwards: all but the first).

The hook never makes an import fail. If it fails itself (while looking up a
module, or while applying a fix after the module executed), it warns once,
naming the error and ``MMAKD_NO_IMPORT_HOOK=1``, takes its finder off
``sys.meta_path`` and does nothing more; the import goes on without it.
"""
import importlib
import importlib.machinery
import os
import sys
import types
from typing import Dict, Optional, Sequence, Tuple

from . import mmrazor_torch2

__all__ = [
    'DISABLE_ENV', 'STARTUP_LINE', 'install', 'install_at_startup',
    'apply_now'
]

#: Environment variable that switches the start-up hook off when set to a
#: value other than '', '0' or 'false'.
DISABLE_ENV = 'MMAKD_NO_IMPORT_HOOK'

#: The line of ``mmakd-import-hook.pth`` (setup.py writes the file from it).
#: It does nothing if mmakd_compat is gone (a stale file after a manual
#: removal).
STARTUP_LINE = "import importlib.util as u; u.find_spec('mmakd_compat') and __import__('mmakd_compat').install_at_startup()"  # noqa: E501


def _warn(message: str) -> None:
    """Warns with ``message``; prints it if warnings are errors here.

    Args:
        message: The text of the warning.
    """
    import warnings
    try:
        warnings.warn(message, RuntimeWarning)
    except Exception:  # -W error: a warning must not become the failure
        sys.stderr.write(f'RuntimeWarning: {message}\n')


def _switch_off(error: Exception) -> None:
    """Takes every :class:`CompatFinder` off ``sys.meta_path`` and warns.

    ``sys.meta_path`` is replaced by a new list rather than changed in place:
    the finder may fail while importlib is iterating the list, and removing
    an entry in place would make importlib skip the finder after it.

    Args:
        error: What the hook raised.
    """
    for finder in sys.meta_path:
        if isinstance(finder, CompatFinder):
            finder.off = True
    sys.meta_path = [
        f for f in sys.meta_path if not isinstance(f, CompatFinder)
    ]
    _warn(f"mmakd's start-up hook (mmakd_compat) failed and switched itself "
          f'off: {type(error).__name__}: {error}. Imports go on without it, '
          'so torch.load may refuse mmengine Runner checkpoints, '
          'mmrazor.models may not import, and config files in `cfg_path` and '
          '`mmakd::` config names may not resolve, until mmakd is imported. '
          'Set '
          f'{DISABLE_ENV}=1 to switch the hook off.')


def _after_torch() -> None:
    """Registers the checkpoint allow-list once torch is imported.

    An error here is the hook's own: it is turned into a warning and the
    hook is switched off (:func:`_switch_off`), so ``import torch`` goes on.
    """
    try:
        from .checkpoint import allow_mmengine_checkpoints_on_demand
        allow_mmengine_checkpoints_on_demand()
    except Exception as error:
        _switch_off(error)


def _after_exec(module: types.ModuleType) -> None:
    """Runs the fixes of a module that just executed (:data:`_AFTER_EXEC`).

    An error here is the hook's own: it is turned into a warning and the
    hook is switched off (:func:`_switch_off`), so the import goes on.

    Args:
        module: The module, executed.
    """
    try:
        for name in _AFTER_EXEC[module.__name__]:
            importlib.import_module(f'{__name__}.{name}').fix(module)
    except Exception as error:
        _switch_off(error)


#: The modules fixed right after they executed, each with the modules of
#: this package whose ``fix(module)`` fix it, in order (imported only then,
#: which keeps the start-up light).
_AFTER_EXEC: Dict[str, Tuple[str, ...]] = {
    'mmengine.utils.package_utils': ('mmakd_configs', 'onedl_forks'),
    'mmengine.config.utils': ('mmakd_configs', ),
    'mmengine.config.config': ('mmakd_configs', ),
    'mmrazor.registry.registry': ('razor_cfg_path', ),
}


class _TorchLoader(importlib.machinery.SourceFileLoader):
    """Imports torch as usual, then registers the checkpoint allow-list."""

    def exec_module(self, module: types.ModuleType) -> None:
        """Executes torch (its own errors are raised as usual), then calls
        :func:`_after_torch`, which raises nothing.

        Args:
            module: The new ``torch`` module.
        """
        super().exec_module(module)
        _after_torch()


class _FixingLoader(importlib.machinery.SourceFileLoader):
    """Imports a module as usual, then applies its fix (:func:`_after_exec`,
    which raises nothing)."""

    def exec_module(self, module: types.ModuleType) -> None:
        """Executes the module (its own errors are raised as usual), then
        applies its fix.

        Args:
            module: The new module.
        """
        super().exec_module(module)
        _after_exec(module)


class CompatFinder:
    """Routes the modules that the fixes repair; every other import is
    left to the rest of ``sys.meta_path``.

    Attributes:
        off: Set when the hook failed: the finder then finds nothing.
    """

    def __init__(self) -> None:
        self.off = False

    def find_spec(self,
                  fullname: str,
                  path: Optional[Sequence[str]],
                  target: Optional[types.ModuleType] = None
                  ) -> Optional[importlib.machinery.ModuleSpec]:
        """The spec of a repaired module, None for any other.

        An error of its own switches the hook off (:func:`_switch_off`) and
        returns None: the rest of ``sys.meta_path`` imports the module.

        Args:
            fullname: The module's full name.
            path: The parent package's ``__path__``, None for a top-level
                module.
            target: The module being reloaded, if any (unused).

        Returns:
            Optional[ModuleSpec]: The spec, or None to leave the module to
            the next finder.
        """
        if self.off:
            return None
        try:
            return self._find_spec(fullname, path)
        except Exception as error:
            _switch_off(error)
            return None

    @staticmethod
    def _find_spec(fullname: str, path: Optional[Sequence[str]]
                   ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname in mmrazor_torch2.GATED_MODULES:
            return mmrazor_torch2.find_spec(fullname, path)
        if fullname == 'mmrazor':
            from . import onedl_forks
            spec = onedl_forks.find_spec(fullname, path)
            if spec is not None:
                return spec
        if fullname == 'torch':
            loader = _TorchLoader
        elif fullname in _AFTER_EXEC:
            loader = _FixingLoader
        else:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and type(
                spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = loader(fullname, spec.origin)
        return spec

    def __repr__(self) -> str:
        return 'mmakd_compat.CompatFinder()'


def install() -> None:
    """Puts :class:`CompatFinder` first on ``sys.meta_path`` (once).

    If torch is already imported, its allow-list is registered now.
    """
    if not any(isinstance(f, CompatFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, CompatFinder())
        if 'torch' in sys.modules:
            _after_torch()


def disabled() -> bool:
    """Whether ``MMAKD_NO_IMPORT_HOOK`` switches the start-up hook off."""
    value = os.environ.get(DISABLE_ENV, '').strip().lower()
    return value not in ('', '0', 'false', 'no')


def install_at_startup() -> None:
    """What ``mmakd-import-hook.pth`` calls: :func:`install` unless
    ``MMAKD_NO_IMPORT_HOOK`` is set. An error is a warning, not a failure of
    the start-up."""
    try:
        if not disabled():
            install()
    except Exception as error:
        _switch_off(error)


def apply_now() -> None:
    """Every fix, for ``import mmakd``: the finder, the fixes of the modules
    already imported, and the full checkpoint allow-list (mmakd imports
    mmengine anyway)."""
    install()
    from . import mmakd_configs, onedl_forks, razor_cfg_path
    mmakd_configs.fix_imported()
    onedl_forks.fix_imported()
    registry = sys.modules.get(razor_cfg_path.TARGET)
    if registry is not None:
        razor_cfg_path.fix(registry)
    from .checkpoint import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()
