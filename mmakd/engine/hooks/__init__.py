from .student_yolox_mode_switch_hook import StudentYOLOXModeSwitchHook

__all__ = ['StudentYOLOXModeSwitchHook']
