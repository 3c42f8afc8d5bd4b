from .receptive_token_learner import ReceptiveTokenLearner
from .strict_teacher import (FpnTeacherDistill, SingleTeacherDistill,
                             TeacherCheckpointMismatch,
                             TeacherCheckpointUnreadable,
                             load_teacher_checkpoint)

__all__ = [
    'FpnTeacherDistill', 'ReceptiveTokenLearner', 'SingleTeacherDistill',
    'TeacherCheckpointMismatch', 'TeacherCheckpointUnreadable',
    'load_teacher_checkpoint'
]
