"""Evaluation of what AKD builds: the Avatars as an inference ensemble."""
from .avatar_ensemble import (SUPPORTED_DET_HEADS, EvalAvatarsError, Member,
                              RunningMean, UnsupportedModel, avatar_members,
                              build_generator, build_teacher, candidate_points,
                              distilled_points, ensemble_predict,
                              load_teacher_weights, perturbation_cfg,
                              select_teacher, task_of, teacher_state)

__all__ = [
    'SUPPORTED_DET_HEADS', 'EvalAvatarsError', 'Member', 'RunningMean',
    'UnsupportedModel', 'avatar_members', 'build_generator', 'build_teacher',
    'candidate_points', 'distilled_points', 'ensemble_predict',
    'load_teacher_weights', 'perturbation_cfg', 'select_teacher', 'task_of',
    'teacher_state'
]
