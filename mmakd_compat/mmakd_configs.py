"""Let mmengine resolve ``mmakd::`` config names.

mmakd ships its ``configs/`` as OpenMMLab packages do, under
``mmakd/.mim/configs`` (setup.py copies them into a wheel, or links them
into the checkout for an editable install), with ``model-index.yml``. For
``_base_ = 'mmakd::cwd/<recipe>.py'``,
``mmengine.hub.get_config('mmakd::...')`` and mmakd's algorithms'
``cfg_path='mmakd::...'`` to resolve:

1. ``mmakd-config-names``: mmengine accepts ``pkg::`` only for packages in
   its table ``mmengine.config.utils.MODULE2PACKAGE`` (``AssertionError:
   mmengine does not support to load mmakd config``). mmakd adds its own
   entry, ``'mmakd': 'mmakd'``, as the table intends; mmengine's registries
   then find :func:`mmakd.utils.register_all_modules`. mmengine also gives
   every typed dict of a ``pkg::`` base the scope ``pkg``
   (``Config._get_cfg_path``); mmakd's configs set their own scopes (the
   mmdet/mmseg ``default_scope``, ``_scope_='mmrazor'`` on the algorithm),
   so ``Config._get_cfg_path`` is wrapped to give an ``mmakd::`` base no
   scope, as a base named by its path gets. Every other name is mmengine's.
2. ``mmakd-editable-configs``: ``mmengine.utils.get_installed_path('mmakd')``
   joins the distribution's location with the package name; for an editable
   install that is site-packages, where mmakd is not. Only there (mmengine's
   answer has no ``.mim/configs``), the function is wrapped to answer the
   folder ``import mmakd`` loads for ``'mmakd'``, and mmengine's answer for
   every other name.
"""
import functools
import os.path as osp
from typing import Any, Callable, Optional, Tuple

from . import status
from .wrapping import marked, rebind, wrap_function

__all__ = ['PACKAGE', 'NAME', 'EDITABLE_NAME', 'apply', 'is_mmakd_name']

#: The package whose configs the fix teaches mmengine.
PACKAGE = 'mmakd'
_PREFIX = PACKAGE + '::'
#: The fixes' names (their sections in docs/process-changes.md).
NAME = 'mmakd-config-names'
EDITABLE_NAME = 'mmakd-editable-configs'
#: Marks a wrapper, so that no function is wrapped twice.
_MARK = '__mmakd_compat__'
_marked = functools.partial(marked, mark=_MARK)


def is_mmakd_name(cfg_path: Any) -> bool:
    """Whether ``cfg_path`` is an ``'mmakd::<path in configs>'`` name."""
    return isinstance(cfg_path, str) and cfg_path.startswith(_PREFIX)


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


def _wrap_cfg_path(original: Callable) -> Callable:
    """``Config._get_cfg_path`` that gives an ``mmakd::`` base no scope."""

    def _get_cfg_path(cfg_path: str,
                      filename: str) -> Tuple[str, Optional[str]]:
        path, scope = original(cfg_path, filename)
        return path, (None if scope == PACKAGE else scope)

    return _marked(_get_cfg_path, original)


def _wrap_installed_path(original: Callable) -> Callable:
    """``get_installed_path`` that finds mmakd where it is imported from."""

    def get_installed_path(package: str) -> str:
        if package == PACKAGE:
            folder = _package_folder()
            if folder is not None:
                return folder
        return original(package)

    return _marked(get_installed_path, original)


def _add_table_entry() -> None:
    """``MODULE2PACKAGE['mmakd'] = 'mmakd'`` and the scope of its bases."""
    from mmengine.config import config as config_module
    from mmengine.config import utils as config_utils
    table = getattr(config_utils, 'MODULE2PACKAGE', None)
    config = getattr(config_module, 'Config', None)
    found = config is not None and config.__dict__.get('_get_cfg_path')
    if not isinstance(table, dict) or not isinstance(found, staticmethod):
        status.cannot_apply(
            NAME, 'mmengine.config.utils.MODULE2PACKAGE or '
            'Config._get_cfg_path is gone, so `mmakd::` config names do not '
            'resolve; name mmakd\'s configs by their file path instead')
        return
    table.setdefault(PACKAGE, PACKAGE)
    if not getattr(found.__func__, _MARK, False):
        config._get_cfg_path = staticmethod(_wrap_cfg_path(found.__func__))
    status.record(
        NAME, status.APPLIED,
        "MODULE2PACKAGE['mmakd'] = 'mmakd'; Config._get_cfg_path gives an "
        'mmakd:: base no scope')


def _has_configs(folder: str) -> bool:
    return osp.isdir(osp.join(folder, '.mim', 'configs'))


#: Modules that import ``get_installed_path`` by name.
_IMPORTERS = ('mmengine.utils', 'mmengine.config.config', 'mmengine.hub.hub')


def _find_editable_configs() -> None:
    """Wraps ``get_installed_path`` where mmengine's answer for mmakd holds
    no configs (an editable install)."""
    from mmengine.utils import package_utils
    original = getattr(package_utils, 'get_installed_path', None)
    if original is None:
        status.cannot_apply(
            EDITABLE_NAME, 'mmengine.utils.package_utils.get_installed_path '
            'is gone, so `mmakd::` config names may not resolve in an '
            'editable install')
        return
    original = getattr(original, '__wrapped__', original)
    try:
        answer = original(PACKAGE)
    except Exception:  # mmengine raises what pkg_resources raises
        answer = None
    if answer is not None and _has_configs(answer):
        status.record(EDITABLE_NAME, status.NOT_NEEDED,
                      f'mmengine finds mmakd\'s configs in {answer}')
        return
    folder = _package_folder()
    if folder is None or not _has_configs(folder):
        status.record(
            EDITABLE_NAME, status.NOT_NEEDED,
            'this mmakd has no .mim/configs (not installed with pip); name '
            'its configs by their file path')
        return
    pair = wrap_function(package_utils, 'get_installed_path',
                         _wrap_installed_path, _MARK)
    rebind(_IMPORTERS, 'get_installed_path', *pair)
    status.record(
        EDITABLE_NAME, status.APPLIED,
        f"get_installed_path('mmakd') answers {folder} (mmengine: {answer})")


def apply() -> None:
    """Applies both fixes, once."""
    _add_table_entry()
    _find_editable_configs()
