"""Let MMRazor build ``cfg_path`` sub-models from local config files.

MMRazor 1.0.0 builds ``architecture=dict(cfg_path=..., pretrained=...)`` (and
``teacher``) in ``mmrazor.registry.registry.build_razor_model_from_cfg``,
the build function of its ``MODELS`` registry, which looks up and calls
:func:`mmengine.hub.get_model`. That function accepts ``'package::path'``
only, so a config file of one's own
(``cfg_path='my_project/configs/my_student.py'``) cannot be named. MMRazor
offers no other way in: the registry calls ``get_model`` directly.

The fix changes that one lookup, ``from mmengine.hub import get_model``, into
one of :func:`get_model` here, by recompiling the function from its own
source with that line replaced (:func:`fix`); the installed file is not
modified, and if the line is not found (a changed MMRazor) nothing is.
:func:`get_model` passes every ``'package::path'`` name to mmengine,
unchanged; a file path, or an ``mmakd::`` name (mmakd's configs carry their
own scopes, :mod:`~mmakd_compat.mmakd_configs`), is loaded with
``Config.fromfile`` and built as mmengine's ``get_model`` builds a packaged
config.
"""
import importlib
import os
import os.path as osp
import types
from typing import Any, Optional, Tuple

from .mmakd_configs import PACKAGE, is_mmakd_name

__all__ = [
    'TARGET', 'fix', 'get_model', 'is_package_name', 'load_sub_config',
    'local_config_file'
]

#: The module whose ``build_razor_model_from_cfg`` the fix recompiles.
TARGET = 'mmrazor.registry.registry'
_FUNCTION = 'build_razor_model_from_cfg'
_LOOKUP = 'from mmengine.hub import get_model'
_FIXED_LOOKUP = f'from {__name__} import get_model'


def is_package_name(cfg_path: Any) -> bool:
    """Whether ``cfg_path`` names a packaged config (``'pkg::path'``) rather
    than a file: it has ``::`` and is no existing file."""
    return isinstance(cfg_path, str) and '::' in cfg_path and \
        not osp.isfile(cfg_path)


def local_config_file(cfg_path: Any) -> str:
    """The absolute path of the config file that ``cfg_path`` names.

    Args:
        cfg_path: A file path, absolute or relative to the working directory.

    Returns:
        str: The absolute path.

    Raises:
        FileNotFoundError: There is no such file.
    """
    path = osp.abspath(osp.expanduser(os.fspath(cfg_path)))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'cfg_path={str(cfg_path)!r}: no such config file ({path}). A '
            '`cfg_path` is a config file (absolute, or relative to the '
            f'working directory {os.getcwd()}) or a packaged config such as '
            "'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'.")
    return path


def load_sub_config(cfg_path: Any) -> Tuple[Any, Optional[str]]:
    """Loads the config that a ``cfg_path`` names, with its build scope.

    Args:
        cfg_path: ``'pkg::path'``, ``'mmakd::path'`` or a file path.

    Returns:
        (Config, scope): the scope is the package of ``'pkg::path'`` (as
        mmengine's ``get_model`` uses it), else the config's
        ``default_scope`` (None if it has none).

    Raises:
        FileNotFoundError: ``cfg_path`` is a file path that does not exist.
    """
    from mmengine.config import Config
    from mmengine.hub import get_config
    if is_package_name(cfg_path):
        cfg = get_config(cfg_path)
        if not is_mmakd_name(cfg_path):
            return cfg, cfg_path.split('::')[0]
    else:
        cfg = Config.fromfile(local_config_file(cfg_path))
    return cfg, cfg.get('default_scope')


def _register_all_modules(scope: Optional[str]) -> None:
    """Calls ``<scope>.utils.register_all_modules()`` as mmengine's
    ``get_model`` does, where the scope's package has one."""
    if not scope or scope == PACKAGE:
        return
    try:
        utils = importlib.import_module(f'{scope}.utils')
    except ModuleNotFoundError as error:
        if error.name not in (scope, f'{scope}.utils'):
            raise
        return
    register = getattr(utils, 'register_all_modules', None)
    if register is not None:
        register()


def get_model(cfg_path: Any, pretrained: Any = False, **kwargs: Any) -> Any:
    """:func:`mmengine.hub.get_model`, also for config files.

    ``'pkg::path'`` (pkg not mmakd) goes to mmengine unchanged. Otherwise
    the config is loaded (:func:`load_sub_config`) and built as mmengine
    builds a packaged one: in the config's ``default_scope`` (with that
    package's ``register_all_modules()``), its top-level
    ``data_preprocessor`` replacing the model's, ``kwargs`` as default
    arguments.

    Args:
        cfg_path: ``'pkg::path'``, ``'mmakd::path'``, or a config file
            (absolute, or relative to the working directory).
        pretrained: False, True (loads the checkpoint that the config names
            in ``model_path``, the key in which mmengine's ``get_config``
            puts a packaged model's weights), or a checkpoint path or URL.
        **kwargs: Default arguments of the model.

    Returns:
        nn.Module: The built model; with a checkpoint loaded, marked as
        initialised (``_is_init``), so a Runner's ``init_weights()`` keeps
        it, as mmengine does.

    Raises:
        FileNotFoundError: ``cfg_path`` is a file path that does not exist.
        ValueError: ``pretrained=True`` and the config has no
            ``model_path``.
    """
    from mmengine.registry import MODELS, DefaultScope
    if is_package_name(cfg_path) and not is_mmakd_name(cfg_path):
        from mmengine.hub import get_model as mmengine_get_model
        return mmengine_get_model(cfg_path, pretrained, **kwargs)
    cfg, scope = load_sub_config(cfg_path)
    checkpoint = None
    if isinstance(pretrained, str):
        checkpoint = pretrained
    elif pretrained:
        checkpoint = cfg.get('model_path')
        if not checkpoint:
            raise ValueError(
                f'cfg_path={str(cfg_path)!r} with pretrained=True: the '
                'config names no checkpoint; set `model_path` in it, or pass '
                'the checkpoint as `pretrained`.')
    with DefaultScope.overwrite_default_scope(scope):
        if 'data_preprocessor' in cfg:
            cfg.model.data_preprocessor = cfg.data_preprocessor
        _register_all_modules(scope)
        model = MODELS.build(cfg.model, default_args=kwargs)
        if checkpoint:
            from mmengine.runner import load_checkpoint
            load_checkpoint(model, checkpoint)
            model._is_init = True
    return model


def _fixed_code(function: types.FunctionType,
                module: types.ModuleType) -> Optional[types.CodeType]:
    """``function``'s code compiled from its module's source with the
    ``get_model`` lookup replaced; None if the lookup is not there."""
    loader = getattr(getattr(module, '__spec__', None), 'loader', None)
    get_source = getattr(loader, 'get_source', None)
    source = get_source(module.__name__) if get_source else None
    if not source or source.count(_LOOKUP) != 1:
        return None
    code = compile(
        source.replace(_LOOKUP, _FIXED_LOOKUP),
        function.__code__.co_filename,
        'exec',
        dont_inherit=True)
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and \
                const.co_name == function.__name__ and \
                __name__ in const.co_names:
            return const
    return None


def fix(module: types.ModuleType) -> None:
    """Makes ``build_razor_model_from_cfg`` of ``module`` (MMRazor's
    registry, executed) look up :func:`get_model`, once.

    The function object stays the same (MMRazor's registries hold it), only
    its code changes. Nothing happens if the function or the lookup line is
    not found.
    """
    function = getattr(module, _FUNCTION, None)
    if not isinstance(function, types.FunctionType) or \
            __name__ in function.__code__.co_names:
        return
    code = _fixed_code(function, module)
    if code is not None:
        function.__code__ = code
