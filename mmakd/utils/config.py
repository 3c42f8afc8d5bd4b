"""Config loading that accepts OpenMMLab package paths."""
import os.path as osp
from typing import Dict, Optional, Tuple

from mmengine.config import Config
from mmengine.hub import get_config


def load_config(path: str) -> Config:
    """Loads a config file, or a packaged one (``'mmrazor::distill/...'``).

    Args:
        path (str): A file path, or ``'<package>::<path in its configs>'``.

    Returns:
        Config: The loaded config.
    """
    if osp.isfile(path) or '::' not in path:
        return Config.fromfile(path)
    return get_config(path)


def load_tool_config(path: str,
                     launcher: str = 'none',
                     cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None) -> Config:
    """The config of a training or test command line, as mmdet's tools
    build it.

    Args:
        path (str): The config file.
        launcher (str): ``--launcher``. Defaults to ``'none'``.
        cfg_options (dict, optional): ``--cfg-options``, merged in.
        work_dir (str, optional): ``--work-dir``. The work dir is, by
            priority: this, the config's ``work_dir``,
            ``./work_dirs/<config file name without .py>``.

    Returns:
        Config: The config, with ``launcher`` and ``work_dir`` set.
    """
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def input_size_of(cfg: Config,
                  default: Optional[Tuple[int, int]] = (512, 512)
                  ) -> Optional[Tuple[int, int]]:
    """The input size (H, W) a model config is trained at: mmseg's
    ``crop_size``, else the ``scale`` (W, H) of the test pipeline's
    ``Resize``.

    Args:
        cfg (Config): A model config with its data pipelines.
        default (tuple[int, int], optional): The answer when the config
            gives neither. Defaults to (512, 512).

    Returns:
        tuple[int, int] | None: (H, W), or ``default``.
    """
    if cfg.get('crop_size'):
        return tuple(cfg.crop_size)
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    pipeline = cfg.get('test_pipeline') or loader.get('dataset', {}).get(
        'pipeline', [])
    for step in pipeline or []:
        if isinstance(step, dict) and 'Resize' in str(step.get('type')) \
                and isinstance(step.get('scale'), (tuple, list)):
            width, height = step['scale'][:2]
            return int(height), int(width)
    return default


def check_one_input_size(owner: str,
                         sizes: Dict[str, Optional[Tuple[int, int]]]) -> None:
    """Refuses teachers trained at different input sizes: every teacher
    sees the student's batch.

    Args:
        owner (str): Who checks, for the message.
        sizes (dict): The input size of each teacher (by its config key),
            None where its config gives none.

    Raises:
        ValueError: Two known sizes differ.
    """
    known = {key: tuple(size) for key, size in sizes.items() if size}
    if len(set(known.values())) > 1:
        raise ValueError(
            f'{owner}: the teachers need different input sizes (H, W) (' +
            ', '.join(f'{key}: {size}' for key, size in known.items()) +
            "), but all see the student's batch; distil from teachers "
            'trained at one input size')
