"""Build distillation recipes without downloading any weights.

MMRazor builds ``dict(cfg_path='mmdet::...', pretrained=...)`` sub-models with
:func:`mmengine.hub.get_model`, and OpenMMLab configs name checkpoints in
``teacher_ckpt``, ``pretrained``, ``init_cfg`` and ``load_from``. For tests,
benchmarks and smoke runs on a machine without network access, these helpers
expand the sub-models and drop every checkpoint, so that models start from
random weights.
"""
import copy
from typing import Any, Dict, Union

from mmengine.config import Config, ConfigDict

from .config import load_config


def resolve_cfg_paths(model_cfg: Any) -> Any:
    """Replaces each ``dict(cfg_path=..., pretrained=...)`` by its config.

    MMRazor builds such a sub-model with :func:`mmengine.hub.get_model`, which
    downloads the package's released checkpoint when ``pretrained=True`` and
    gives no way to change the nested config (e.g. a backbone's ``init_cfg``).
    The expanded dict is what ``get_model`` would build: the config's
    ``model`` with its top-level ``data_preprocessor`` merged in, built in the
    package's scope (``_scope_``), without the checkpoint.

    Args:
        model_cfg: A model config (dict, list or any other value), walked
            recursively.

    Returns:
        A copy of ``model_cfg`` without any ``cfg_path`` entry.
    """
    if isinstance(model_cfg, (list, tuple)):
        return type(model_cfg)(resolve_cfg_paths(v) for v in model_cfg)
    if not isinstance(model_cfg, dict):
        return model_cfg
    if model_cfg.get('cfg_path') and not model_cfg.get('type'):
        extra = {
            k: v
            for k, v in model_cfg.items()
            if k not in ('cfg_path', 'pretrained')
        }
        path = model_cfg['cfg_path']
        sub = load_config(path)
        # The config's own scope (a local file's, or mmakd::'s, whose
        # package is no registry scope), else its package's.
        package = sub.get('default_scope') or (
            path.split('::')[0] if '::' in path else None)
        resolved = copy.deepcopy(sub.model.to_dict())
        if 'data_preprocessor' in sub:
            resolved['data_preprocessor'] = copy.deepcopy(
                sub.data_preprocessor.to_dict())
        if package:
            resolved.setdefault('_scope_', package)
        resolved.update(extra)
        return ConfigDict(resolve_cfg_paths(resolved))
    return ConfigDict({k: resolve_cfg_paths(v) for k, v in model_cfg.items()})


def _is_pretrained(init_cfg: Any) -> bool:
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def disable_downloads(cfg: Union[Config, Dict]) -> Union[Config, Dict]:
    """Removes every checkpoint a model config would load, in place.

    Sets ``teacher_ckpt``, each ``ckpt`` of ``teachers`` (several
    teachers), MasKD's ``tokens_ckpt`` and every string
    ``pretrained`` (e.g. mmseg's ``pretrained='open-mmlab://resnet101_v1c'``)
    to None, ``pretrained=True`` of a ``cfg_path`` sub-model to False, and
    drops each ``init_cfg=dict(type='Pretrained', ...)`` (set to None, or
    removed from a list of init configs, so other initialisers stay). Run
    :func:`resolve_cfg_paths` first: the configs a ``cfg_path`` names are not
    visible here.

    Args:
        cfg: A full config (its ``model`` is cleaned) or a model config.

    Returns:
        The same ``cfg``, for chaining.
    """

    def clean(node: Any) -> None:
        if isinstance(node, (list, tuple)):
            for value in node:
                clean(value)
            return
        if not isinstance(node, dict):
            return
        for key in ('teacher_ckpt', 'tokens_ckpt'):
            if key in node:
                node[key] = None
        for entry in (node.get('teachers') or {}).values():
            if isinstance(entry, dict) and 'ckpt' in entry:
                entry['ckpt'] = None  # a multi-teacher algorithm's
        if isinstance(node.get('pretrained'), str):
            node['pretrained'] = None
        elif node.get('pretrained') is True and 'cfg_path' in node:
            node['pretrained'] = False
        init_cfg = node.get('init_cfg')
        if _is_pretrained(init_cfg):
            node['init_cfg'] = None
        elif isinstance(init_cfg, list):
            node['init_cfg'] = [c for c in init_cfg if not _is_pretrained(c)
                                ] or None
        for value in node.values():
            clean(value)

    clean(cfg['model'] if 'model' in cfg else cfg)
    if 'load_from' in cfg:
        cfg['load_from'] = None
    return cfg
