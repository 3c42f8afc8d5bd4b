from .strict_teacher import (FpnTeacherDistill, SingleTeacherDistill,
                             TeacherCheckpointMismatch,
                             load_teacher_checkpoint)

__all__ = [
    'FpnTeacherDistill', 'SingleTeacherDistill', 'TeacherCheckpointMismatch',
    'load_teacher_checkpoint'
]
