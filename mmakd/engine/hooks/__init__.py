from .avatar_stats_hook import AvatarStatsHook
from .distill_loss_check_hook import DistillLossCheckHook
from .student_yolox_mode_switch_hook import StudentYOLOXModeSwitchHook

__all__ = [
    'AvatarStatsHook', 'DistillLossCheckHook', 'StudentYOLOXModeSwitchHook'
]
