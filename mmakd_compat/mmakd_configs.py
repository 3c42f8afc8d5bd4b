"""Let mmengine resolve ``mmakd::`` config names.

mmakd ships its ``configs/`` as OpenMMLab packages do, under
``mmakd/.mim/configs`` (setup.py copies them into a wheel, or links them
into the checkout for an editable install), with ``model-index.yml``. For
mmengine to resolve ``_base_ = 'mmakd::cwd/<recipe>.py'``,
``mmengine.hub.get_config('mmakd::...')`` and ``cfg_path='mmakd::...'``,
three of its functions need to know mmakd:

1. ``mmengine.config.utils._get_package_and_cfg_path`` refuses every package
   outside its table ``MODULE2PACKAGE`` (alias ``PKG2PROJECT``):
   ``AssertionError: mmengine does not support to load mmakd config.`` The
   table is not extended: mmengine's registries read it too, and expect
   every listed package to provide ``<package>.utils.register_all_modules``
   (a registry of a listed scope without import locations calls it, and
   mmakd's ``avatar perturbation`` registry has scope ``mmakd``). The
   function is wrapped instead, to accept ``mmakd::`` and pass every other
   name to mmengine.
2. ``mmengine.utils.get_installed_path('mmakd')`` joins the distribution's
   location with the package name: in an editable install that is
   site-packages, where mmakd is not. For ``mmakd`` the wrapper answers the
   folder ``import mmakd`` loads (the checkout, or the wheel's install
   folder); every other package goes to mmengine.
3. ``Config._get_cfg_path`` gives every typed dict of a ``pkg::`` base the
   scope ``pkg``. mmakd's configs set their own scopes (``default_scope`` of
   the mmdet/mmseg base, ``_scope_='mmrazor'`` on the algorithm) and no
   registry has scope ``mmakd``, so an ``mmakd::`` base gets no scope, as a
   base given by its file path would.

Each wrapper is installed when the module that defines the function is
imported (:func:`fix`), or, if it already is, by :func:`fix_imported`, in
every module that imported the function by name.
"""
import functools
import os.path as osp
import re
import sys
import types
from typing import Any, Callable, Dict, Optional, Tuple

from .wrapping import marked, rebind, wrap_function

__all__ = ['PACKAGE', 'FIXES', 'fix', 'fix_imported', 'is_mmakd_name']

#: The package whose configs the fix teaches mmengine.
PACKAGE = 'mmakd'
_PREFIX = PACKAGE + '::'
#: Marks a wrapper, so that no function is wrapped twice.
_MARK = '__mmakd_compat__'


def is_mmakd_name(cfg_path: Any) -> bool:
    """Whether ``cfg_path`` is an ``'mmakd::<path in configs>'`` name."""
    return isinstance(cfg_path, str) and cfg_path.startswith(_PREFIX)


_marked = functools.partial(marked, mark=_MARK)


def _wrap_package_and_cfg_path(original: Callable) -> Callable:
    """``_get_package_and_cfg_path`` that also accepts ``mmakd::``."""

    def _get_package_and_cfg_path(cfg_path: str) -> Tuple[str, str]:
        if is_mmakd_name(cfg_path):
            rest = cfg_path[len(_PREFIX):]
            # mmengine's own checks of the form (its errors otherwise).
            if '::' not in rest and re.match(r'\w*::\w*/\w*', cfg_path):
                return PACKAGE, rest
        return original(cfg_path)

    return _marked(_get_package_and_cfg_path, original)


def _package_folder() -> Optional[str]:
    """The folder of the ``mmakd`` package that ``import mmakd`` loads."""
    import importlib.util
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.has_location:
        return None
    return osp.dirname(spec.origin)


def _wrap_installed_path(original: Callable) -> Callable:
    """``get_installed_path`` that finds mmakd where it is imported from."""

    def get_installed_path(package: str) -> str:
        if package == PACKAGE:
            folder = _package_folder()
            if folder is not None:
                return folder
        return original(package)

    return _marked(get_installed_path, original)


def _wrap_cfg_path(original: Callable) -> Callable:
    """``Config._get_cfg_path`` that gives an ``mmakd::`` base no scope."""

    def _get_cfg_path(cfg_path: str,
                      filename: str) -> Tuple[str, Optional[str]]:
        path, scope = original(cfg_path, filename)
        return path, (None if scope == PACKAGE else scope)

    return _marked(_get_cfg_path, original)


#: (module, attribute, wrapper factory, modules that import it by name).
_TARGETS = (
    ('mmengine.config.utils', '_get_package_and_cfg_path',
     _wrap_package_and_cfg_path, ('mmengine.config.config',
                                  'mmengine.hub.hub')),
    ('mmengine.utils.package_utils', 'get_installed_path',
     _wrap_installed_path, ('mmengine.utils', 'mmengine.config.config',
                            'mmengine.hub.hub')),
)
_CONFIG_MODULE = 'mmengine.config.config'


def _fix_config(module: types.ModuleType) -> None:
    """Wraps ``Config._get_cfg_path`` of ``mmengine.config.config``."""
    config = getattr(module, 'Config', None)
    found = config is not None and config.__dict__.get('_get_cfg_path')
    if not isinstance(found, staticmethod) or getattr(found.__func__, _MARK,
                                                      False):
        return
    config._get_cfg_path = staticmethod(_wrap_cfg_path(found.__func__))


def _fixer(attribute: str,
           factory: Callable) -> Callable[[types.ModuleType], None]:
    """The fix of the module that defines ``attribute``."""

    def fix_module(module: types.ModuleType) -> None:
        wrap_function(module, attribute, factory, _MARK)

    fix_module.__name__ = f'fix_{attribute}'
    return fix_module


#: What :func:`mmakd_compat.install`'s finder runs right after each module
#: executed, by module name.
FIXES: Dict[str, Callable[[types.ModuleType], None]] = {
    name: _fixer(attribute, factory)
    for name, attribute, factory, _ in _TARGETS
}
FIXES[_CONFIG_MODULE] = _fix_config


def fix(module: types.ModuleType) -> None:
    """Applies the fix of ``module`` (one of :data:`FIXES`), once.

    Args:
        module: The module, just executed.
    """
    FIXES[module.__name__](module)


def fix_imported() -> None:
    """Applies the fixes to the modules already imported, and rebinds the
    wrapped functions in the modules that imported them by name."""
    for name, attribute, factory, importers in _TARGETS:
        module = sys.modules.get(name)
        if module is None:
            continue
        pair = wrap_function(module, attribute, factory, _MARK)
        if pair is not None:
            rebind(importers, attribute, *pair)
    config = sys.modules.get(_CONFIG_MODULE)
    if config is not None:
        _fix_config(config)
