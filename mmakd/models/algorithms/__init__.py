from .strict_teacher import (FpnTeacherDistill, SingleTeacherDistill,
                             TeacherCheckpointMismatch,
                             TeacherCheckpointUnreadable,
                             load_teacher_checkpoint)

__all__ = [
    'FpnTeacherDistill', 'SingleTeacherDistill', 'TeacherCheckpointMismatch',
    'TeacherCheckpointUnreadable',
    'load_teacher_checkpoint'
]
