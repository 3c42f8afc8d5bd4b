"""Inheriting: the student's neck and head start from the teacher's weights.

The published FGD, MGD, MasKD and AKD detection recipes initialise the
student's neck and head from the teacher (``init_student=True`` in the
authors' code). :class:`InheritFromTeacherMixin` gives mmakd's algorithms
that option, ``inherit``: after ``init_weights()`` (where mmengine's
``init_cfg`` would load a ``Pretrained`` checkpoint), every parameter and
buffer of the chosen student modules whose name and shape the teacher has
is copied from the teacher, and the log says what was copied and what
skipped. The plan is made when the algorithm is built, so a choice that
copies nothing fails before training.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MMLogger
from torch import nn

#: The modules ``inherit=True`` copies, where the student has them: necks
#: and heads of mmdet detectors, mmseg segmentors and mmpretrain
#: classifiers.
DEFAULT_INHERITED = ('neck', 'bbox_head', 'rpn_head', 'roi_head', 'mask_head',
                     'decode_head', 'auxiliary_head', 'head')


class NothingToInherit(ValueError):
    """``inherit`` names student modules of which no weight fits the
    teacher."""


class InheritPlan:
    """Which student tensors take which teacher tensors.

    Args:
        student (nn.Module): The student.
        teacher (nn.Module): The teacher to copy from.
        modules (Sequence[str]): Student module names (``'neck'``,
            ``'bbox_head'``, ...); a tensor is copied when its name starts
            with one of them and the teacher has a tensor of that name and
            shape.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module,
                 modules: Sequence[str]) -> None:
        self.modules = tuple(modules)
        theirs = teacher.state_dict()
        self.copied: List[str] = []
        self.skipped: List[Tuple[str, str]] = []
        for key, tensor in student.state_dict().items():
            if not key.startswith(tuple(f'{m}.' for m in self.modules)):
                continue
            if key not in theirs:
                self.skipped.append((key, 'not in the teacher'))
            elif theirs[key].shape != tensor.shape:
                self.skipped.append(
                    (key, f'teacher {tuple(theirs[key].shape)}, student '
                     f'{tuple(tensor.shape)}'))
            else:
                self.copied.append(key)

    def apply(self, student: nn.Module, teacher: nn.Module) -> None:
        """Copies the planned tensors from ``teacher`` into ``student``."""
        theirs, ours = teacher.state_dict(), student.state_dict()
        with torch.no_grad():
            for key in self.copied:
                ours[key].copy_(theirs[key])

    def summary(self, limit: int = 20) -> str:
        """What was copied (per module) and what skipped, for the log."""
        counts: Dict[str, int] = {}
        for key in self.copied:
            module = next(m for m in self.modules if key.startswith(m + '.'))
            counts[module] = counts.get(module, 0) + 1
        per_module = ', '.join(f'{m}: {n}' for m, n in counts.items())
        lines = [
            f'inherit: copied {len(self.copied)} tensors from the teacher '
            'into the student' + (f' ({per_module})' if counts else '')
        ]
        if self.skipped:
            lines.append(f'inherit: skipped {len(self.skipped)}:')
            lines += [f'  {key}: {why}' for key, why in self.skipped[:limit]]
            if len(self.skipped) > limit:
                lines.append(f'  ... and {len(self.skipped) - limit} more')
        return '\n'.join(lines)


def inherited_modules(owner: str, inherit: Union[bool, Sequence[str]],
                      student: nn.Module) -> Tuple[str, ...]:
    """The student modules ``inherit`` asks for.

    Args:
        owner (str): The algorithm, for the messages.
        inherit (bool | Sequence[str]): ``True`` for
            :data:`DEFAULT_INHERITED`, or module names of the student.
        student (nn.Module): The student.

    Returns:
        tuple[str]: The module names; empty for ``False``.

    Raises:
        TypeError: ``inherit`` is neither a bool nor a list of names.
        ValueError: a listed module is not in the student.
    """
    if inherit is False or inherit is None:
        return ()
    children = dict(student.named_modules())
    if inherit is True:
        return tuple(m for m in DEFAULT_INHERITED if m in children)
    names = [inherit] if isinstance(inherit, str) else inherit
    if not isinstance(names, (list, tuple)) or not names or \
            not all(isinstance(n, str) for n in names):
        raise TypeError(
            f'{owner}: `inherit` must be True, False or a list of student '
            f'module names, e.g. [\'neck\', \'bbox_head\'], got {inherit!r}')
    missing = [n for n in names if n not in children]
    if missing:
        tops = [
            n for n, _ in student.named_children() if n != 'data_preprocessor'
        ]
        raise ValueError(
            f'{owner}: `inherit` names {missing}, which the student '
            f'({type(student).__name__}) does not have; its modules are '
            f'{tops}')
    return tuple(names)


class InheritFromTeacherMixin:
    """The ``inherit`` option of mmakd's distillation algorithms.

    Args:
        inherit (bool | Sequence[str]): Copy the teacher's weights into
            these student modules where names and shapes match, after
            ``init_weights()``. ``True`` takes the student's necks and heads
            (:data:`DEFAULT_INHERITED`); a list names the modules. Defaults
            to False.

    Raises:
        NothingToInherit: no weight of the chosen modules fits the teacher.

    Note:
        The algorithm gives the teacher to copy from by its
        ``inherit_source()``.
    """

    def __init__(self,
                 *args,
                 inherit: Union[bool, Sequence[str]] = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.inherit_plan: Optional[InheritPlan] = None
        modules = inherited_modules(type(self).__name__, inherit, self.student)
        if not modules:
            return
        plan = InheritPlan(self.student, self.inherit_source(), modules)
        if not plan.copied:
            raise NothingToInherit(
                f'{type(self).__name__}: `inherit`={list(modules)} copies '
                'nothing: no weight of these student modules has a tensor '
                'of the same name and shape in the teacher.\n' +
                plan.summary())
        self.inherit_plan = plan

    def init_weights(self) -> None:
        """Initialises as configured, then copies the inherited weights."""
        super().init_weights()
        if self.inherit_plan is not None:
            self.inherit_plan.apply(self.student, self.inherit_source())
            MMLogger.get_current_instance().info(self.inherit_plan.summary())
