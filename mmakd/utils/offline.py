"""Build distillation recipes without downloading any weights."""
from typing import Any


def _is_pretrained_init(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return any(
        isinstance(v, dict) and v.get('type') == 'Pretrained' for v in items)


def without_downloads(cfg: Any) -> Any:
    """A copy of a model config that loads no checkpoint of any kind.

    Sets ``teacher_ckpt`` to None, every ``pretrained`` to None (False for
    MMRazor's ``cfg_path`` sub-models, where it is a flag) and every
    ``init_cfg=dict(type='Pretrained', ...)`` to None, at any depth. Models
    then start from random weights: for tests, benchmarks and smoke runs.

    Args:
        cfg (dict | list | Any): A model config (mmengine ConfigDict or dict).

    Returns:
        The same structure, with checkpoint references removed.
    """
    if isinstance(cfg, list):
        return [without_downloads(v) for v in cfg]
    if not isinstance(cfg, dict):
        return cfg
    out = type(cfg)()
    for key, value in cfg.items():
        if key == 'teacher_ckpt':
            value = None
        elif key == 'pretrained':
            value = False if 'cfg_path' in cfg else None
        elif key == 'init_cfg' and _is_pretrained_init(value):
            value = None
        else:
            value = without_downloads(value)
        out[key] = value
    return out
