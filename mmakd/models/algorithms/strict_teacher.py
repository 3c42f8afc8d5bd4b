"""Teacher checkpoints that do not match the teacher are an error.

MMRazor's ``SingleTeacherDistill`` loads ``teacher_ckpt`` with
``strict=False``: wrong keys only warn and training goes on with a random
teacher. mmakd re-registers ``SingleTeacherDistill`` and ``FpnTeacherDistill``
under their own names in MMRazor's registry with strict loading, so every
existing recipe gets the check without a config change. ``teacher_ckpt_strict=
False`` restores the partial load on purpose.
"""
from typing import Any, Dict, Optional

from mmengine.runner import load_state_dict
from mmrazor.models.algorithms import FpnTeacherDistill as _FpnTeacherDistill
from mmrazor.models.algorithms import \
    SingleTeacherDistill as _SingleTeacherDistill
from mmrazor.registry import MODELS
from torch import nn

from ...utils.checkpoints import (TeacherCheckpointUnreadable, problem_list,
                                  read_checkpoint, state_dict_mismatches,
                                  unwrapped_keys)

__all__ = [
    'FpnTeacherDistill', 'SingleTeacherDistill', 'TeacherCheckpointMismatch',
    'TeacherCheckpointUnreadable', 'load_teacher_checkpoint',
    'problem_list', 'state_dict_mismatches', 'unwrapped_keys'
]


class TeacherCheckpointMismatch(RuntimeError):
    """``teacher_ckpt`` does not fit the teacher model."""


def load_teacher_checkpoint(teacher: nn.Module,
                            filename: str,
                            strict: bool = True) -> Dict[str, Any]:
    """Loads ``filename`` into ``teacher``, refusing a mismatch when strict.

    Args:
        teacher (nn.Module): The teacher model.
        filename (str): Path or URL of the checkpoint (``teacher_ckpt``).
        strict (bool): Raise on any missing, unexpected or mis-shaped key.
            Defaults to True.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        TeacherCheckpointUnreadable: the file cannot be read as a checkpoint.
        TeacherCheckpointMismatch: when ``strict`` and the keys differ.
    """
    checkpoint = read_checkpoint(filename)
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = unwrapped_keys(state_dict)
    problems = state_dict_mismatches(teacher, state_dict)
    if strict and problems:
        raise TeacherCheckpointMismatch(
            f'teacher_ckpt={filename!r} does not match the teacher model '
            f'({len(problems)} problems):{problem_list(problems, 30)}\n'
            'Check that `teacher` is the architecture the checkpoint was '
            'trained with. To load a partial teacher on purpose, set '
            '`teacher_ckpt_strict=False` in the algorithm config.')
    if strict:
        # Checked above; only BatchNorm counters may be absent.
        teacher.load_state_dict(state_dict, strict=False)
    else:  # mmengine's loader skips mis-shaped keys, with a warning
        load_state_dict(teacher, state_dict, strict=False)
    return checkpoint


class StrictTeacherCheckpointMixin:
    """Loads ``teacher_ckpt`` strictly unless ``teacher_ckpt_strict=False``.

    Args:
        teacher_ckpt (str, optional): Path of the teacher's checkpoint.
            Defaults to None.
        teacher_ckpt_strict (bool): Whether a checkpoint that does not match
            the teacher stops training. Defaults to True.
    """

    def __init__(self,
                 *args,
                 teacher_ckpt: Optional[str] = None,
                 teacher_ckpt_strict: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, teacher_ckpt=None, **kwargs)
        self.teacher_ckpt = teacher_ckpt
        if teacher_ckpt:
            load_teacher_checkpoint(self.teacher, teacher_ckpt,
                                    teacher_ckpt_strict)
            # As MMRazor does: keep init_weights() from overwriting it.
            self.teacher._is_init = True


@MODELS.register_module(name='SingleTeacherDistill', force=True)
class SingleTeacherDistill(StrictTeacherCheckpointMixin,
                           _SingleTeacherDistill):
    """MMRazor's ``SingleTeacherDistill`` with a strict ``teacher_ckpt``."""


@MODELS.register_module(name='FpnTeacherDistill', force=True)
class FpnTeacherDistill(StrictTeacherCheckpointMixin, _FpnTeacherDistill):
    """MMRazor's ``FpnTeacherDistill`` with a strict ``teacher_ckpt``."""
