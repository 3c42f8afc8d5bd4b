"""Sub-models (``architecture``, ``teacher``) from config files.

MMRazor 1.0.0 builds ``architecture=dict(cfg_path=..., pretrained=...)`` (and
``teacher``) with :func:`mmengine.hub.get_model`, which accepts
``'package::path'`` only, so a config file of one's own
(``cfg_path='my_project/configs/my_student.py'``) or one of mmakd's
(``'mmakd::...'``, which mmengine would build in scope ``mmakd``) cannot be
named. mmakd's algorithms build such a ``cfg_path`` here before MMRazor sees
it (:func:`build_sub_model`); every ``'package::path'`` of another package
goes to MMRazor unchanged. MMRazor's own algorithms are not changed.
"""
import importlib
import os
import os.path as osp
from typing import Any, Optional, Tuple, Union

from torch import nn

from mmakd_compat.mmakd_configs import PACKAGE, is_mmakd_name

__all__ = [
    'build_sub_model', 'get_model', 'is_package_name', 'load_sub_config',
    'local_config_file'
]


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


def build_sub_model(cfg: Union[dict, nn.Module, None]
                    ) -> Union[dict, nn.Module, None]:
    """``architecture``/``teacher`` as MMRazor should receive it.

    Args:
        cfg: The sub-model's config, or a model.

    Returns:
        The model built with :func:`get_model` when ``cfg`` is a dict with a
        ``cfg_path`` that is a file or an ``mmakd::`` name (and no ``type``,
        as MMRazor expects); else ``cfg`` unchanged, for MMRazor to build.
    """
    if not isinstance(cfg, dict) or 'type' in cfg or 'cfg_path' not in cfg:
        return cfg
    cfg_path = cfg['cfg_path']
    if is_package_name(cfg_path) and not is_mmakd_name(cfg_path):
        return cfg
    kwargs = {k: v for k, v in cfg.items() if k != 'cfg_path'}
    return get_model(cfg_path, **kwargs)
