from .avatar_stats_hook import AvatarStatsHook
from .student_yolox_mode_switch_hook import StudentYOLOXModeSwitchHook

__all__ = ['AvatarStatsHook', 'StudentYOLOXModeSwitchHook']
