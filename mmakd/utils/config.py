"""Config loading that accepts OpenMMLab package paths."""
import os.path as osp
from typing import Optional

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
