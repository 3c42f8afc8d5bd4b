from .config import load_config
from .offline import disable_downloads, resolve_cfg_paths

__all__ = ['disable_downloads', 'load_config', 'resolve_cfg_paths']
