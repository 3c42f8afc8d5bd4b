from .config import load_config
from .offline import without_downloads

__all__ = ['load_config', 'without_downloads']
