from .inherit import (DEFAULT_INHERITED, InheritFromTeacherMixin,
                      NothingToInherit)
from .multi_teacher_distill import (MultiFpnTeacherDistill,
                                    MultiTeacherDistill, TeacherGroup)
from .receptive_token_learner import ReceptiveTokenLearner
from .strict_teacher import (MMAKDFpnTeacherDistill, MMAKDSingleTeacherDistill,
                             TeacherCheckpointMismatch,
                             TeacherCheckpointUnreadable,
                             load_teacher_checkpoint)
from .sub_models import build_sub_model

__all__ = [
    'DEFAULT_INHERITED', 'InheritFromTeacherMixin', 'MultiFpnTeacherDistill',
    'MultiTeacherDistill', 'NothingToInherit', 'TeacherGroup',
    'MMAKDFpnTeacherDistill', 'MMAKDSingleTeacherDistill',
    'ReceptiveTokenLearner', 'TeacherCheckpointMismatch',
    'TeacherCheckpointUnreadable', 'build_sub_model', 'load_teacher_checkpoint'
]
