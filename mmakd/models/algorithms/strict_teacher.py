"""mmakd's single-teacher algorithms: strict teacher checkpoints, config
files in ``cfg_path``.

MMRazor's ``SingleTeacherDistill`` loads ``teacher_ckpt`` with
``strict=False``: wrong keys only warn and training goes on with a random
teacher; and its ``cfg_path`` takes ``'package::path'`` names only.
``MMAKDSingleTeacherDistill`` and ``MMAKDFpnTeacherDistill`` (mmakd's names
in MMRazor's registry; MMRazor's own names keep MMRazor's classes) load
``teacher_ckpt`` strictly (``teacher_ckpt_strict=False`` restores the
partial load on purpose) and build ``cfg_path`` config files and
``mmakd::`` names (:mod:`.sub_models`). mmakd's configs name them.
"""
from typing import Any, Dict, Optional

from mmengine.runner import load_state_dict
from mmrazor.models.algorithms import FpnTeacherDistill, SingleTeacherDistill
from mmrazor.registry import MODELS
from torch import nn

from ...utils.checkpoints import (TeacherCheckpointUnreadable, problem_list,
                                  read_checkpoint, state_dict_mismatches,
                                  unwrapped_keys)
from .inherit import InheritFromTeacherMixin
from .sub_models import build_sub_model

__all__ = [
    'MMAKDFpnTeacherDistill', 'MMAKDSingleTeacherDistill',
    'TeacherCheckpointMismatch', 'TeacherCheckpointUnreadable',
    'load_teacher_checkpoint', 'problem_list', 'state_dict_mismatches',
    'unwrapped_keys'
]


class TeacherCheckpointMismatch(RuntimeError):
    """``teacher_ckpt`` does not fit the teacher model."""


def load_teacher_checkpoint(
        teacher: nn.Module,
        filename: str,
        strict: bool = True,
        key: str = 'teacher_ckpt',
        strict_key: str = 'teacher_ckpt_strict') -> Dict[str, Any]:
    """Loads ``filename`` into ``teacher``, refusing a mismatch when strict.

    Args:
        teacher (nn.Module): The teacher model.
        filename (str): Path or URL of the checkpoint (``teacher_ckpt``).
        strict (bool): Raise on any missing, unexpected or mis-shaped key.
            Defaults to True.
        key (str): The config key that gave ``filename``, for the message.
            Defaults to ``'teacher_ckpt'``.
        strict_key (str): The config key of ``strict``, for the message.
            Defaults to ``'teacher_ckpt_strict'``.

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
            f'{key}={filename!r} does not match the teacher model '
            f'({len(problems)} problems):{problem_list(problems, 30)}\n'
            'Check that `teacher` is the architecture the checkpoint was '
            'trained with. To load a partial teacher on purpose, set '
            f'`{strict_key}=False` in the algorithm config.')
    if strict:
        # Checked above; only BatchNorm counters may be absent.
        teacher.load_state_dict(state_dict, strict=False)
    else:  # mmengine's loader skips mis-shaped keys, with a warning
        load_state_dict(teacher, state_dict, strict=False)
    return checkpoint


class StrictTeacherCheckpointMixin:
    """Loads ``teacher_ckpt`` strictly unless ``teacher_ckpt_strict=False``,
    and builds ``architecture`` and ``teacher`` given by a config file or an
    ``mmakd::`` name (:func:`~.sub_models.build_sub_model`).

    Args:
        teacher (dict | nn.Module): The teacher, as MMRazor takes it.
        teacher_ckpt (str, optional): Path of the teacher's checkpoint.
            Defaults to None.
        teacher_ckpt_strict (bool): Whether a checkpoint that does not match
            the teacher stops training. Defaults to True.
    """

    def __init__(self,
                 *args,
                 teacher: Any = None,
                 teacher_ckpt: Optional[str] = None,
                 teacher_ckpt_strict: bool = True,
                 **kwargs) -> None:
        if 'architecture' in kwargs:
            kwargs['architecture'] = build_sub_model(kwargs['architecture'])
        super().__init__(
            *args,
            teacher=build_sub_model(teacher),
            teacher_ckpt=None,
            **kwargs)
        self.teacher_ckpt = teacher_ckpt
        if teacher_ckpt:
            load_teacher_checkpoint(self.teacher, teacher_ckpt,
                                    teacher_ckpt_strict)
            # As MMRazor does: keep init_weights() from overwriting it.
            self.teacher._is_init = True

    def inherit_source(self) -> nn.Module:
        """The teacher ``inherit`` copies from."""
        return self.teacher


@MODELS.register_module()
class MMAKDSingleTeacherDistill(InheritFromTeacherMixin,
                                StrictTeacherCheckpointMixin,
                                SingleTeacherDistill):
    """MMRazor's ``SingleTeacherDistill`` with a strict ``teacher_ckpt``,
    config files in ``cfg_path`` and the ``inherit`` option
    (:class:`~.inherit.InheritFromTeacherMixin`)."""


@MODELS.register_module()
class MMAKDFpnTeacherDistill(InheritFromTeacherMixin,
                             StrictTeacherCheckpointMixin, FpnTeacherDistill):
    """MMRazor's ``FpnTeacherDistill`` with a strict ``teacher_ckpt``,
    config files in ``cfg_path`` and the ``inherit`` option
    (:class:`~.inherit.InheritFromTeacherMixin`)."""
