from .config import load_config, load_tool_config
from .offline import disable_downloads, resolve_cfg_paths
from .setup_env import register_all_modules
from .threads import default_cpu_threads

__all__ = [
    'default_cpu_threads', 'disable_downloads', 'load_config',
    'load_tool_config', 'register_all_modules', 'resolve_cfg_paths'
]
