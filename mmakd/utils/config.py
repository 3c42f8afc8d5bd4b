"""Config loading that accepts OpenMMLab package paths."""
import os.path as osp

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
