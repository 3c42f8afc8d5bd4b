from .avatar_distiller import AvatarDistiller
from .avatar_stats_hook import AvatarStatsHook

__all__ = ['AvatarDistiller', 'AvatarStatsHook']
