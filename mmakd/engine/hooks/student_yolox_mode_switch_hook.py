"""StudentYOLOXModeSwitchHook: YOLOX's last-epochs switch in a distillation."""
from typing import Any

from mmdet.engine.hooks import YOLOXModeSwitchHook
from mmengine.model import is_model_wrapper
from mmrazor.registry import HOOKS
from torch import nn


class _RunnerWithStudent:
    """A runner as its hooks see it, with ``model`` the distilled student.

    Every other attribute is the runner's own.

    Args:
        runner (Runner): The runner.
        student (nn.Module): What ``model`` gives instead of the runner's
            model.
    """

    def __init__(self, runner: Any, student: nn.Module) -> None:
        self._runner = runner
        self.model = student

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)


def student_of(model: nn.Module) -> nn.Module:
    """The student of a distillation model, or ``model`` if it has none.

    Args:
        model (nn.Module): The runner's model, wrapped (DDP) or not.

    Returns:
        nn.Module: ``model.student`` of MMRazor's distillation algorithms
        (their ``architecture``), else the unwrapped ``model`` itself.
    """
    if is_model_wrapper(model):
        model = model.module
    return getattr(model, 'student', model)


@HOOKS.register_module()
class StudentYOLOXModeSwitchHook(YOLOXModeSwitchHook):
    """mmdet's ``YOLOXModeSwitchHook`` that also works on a distillation.

    For the last ``num_last_epochs`` epochs, mmdet's hook drops Mosaic,
    RandomAffine and MixUp from the training pipeline and turns on the L1
    loss of the detector's head, which it looks for at
    ``runner.model.bbox_head`` (or ``runner.model.detector.bbox_head``). A
    distillation model (MMRazor's ``SingleTeacherDistill``,
    ``FpnTeacherDistill``) has its detector at ``runner.model.student``,
    so mmdet's hook fails there with ``AttributeError: 'FpnTeacherDistill'
    object has no attribute 'bbox_head'`` once it has switched the pipeline.
    This hook runs mmdet's with the student as the runner's model, and so
    switches the student's head; on a model without a student it is mmdet's
    hook. Arguments, priority and epochs are mmdet's.

    Args:
        num_last_epochs (int): The last epochs without the mixing
            augmentations and with the L1 loss. Defaults to 15.
        skip_type_keys (Sequence[str]): The transforms left out of the
            pipeline then. Defaults to ``('Mosaic', 'RandomAffine',
            'MixUp')``.

    Example:
        >>> custom_hooks = [
        ...     dict(type='mmrazor.StudentYOLOXModeSwitchHook',
        ...          num_last_epochs=15, priority=48)]
    """

    def before_train_epoch(self, runner: Any) -> None:
        """Switches the pipeline and the student's head at
        ``max_epochs - num_last_epochs - 1`` (mmdet's rule), once.

        Args:
            runner (Runner): The runner.
        """
        super().before_train_epoch(
            _RunnerWithStudent(runner, student_of(runner.model)))
