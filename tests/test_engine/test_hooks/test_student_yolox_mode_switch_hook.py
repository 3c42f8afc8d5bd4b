"""StudentYOLOXModeSwitchHook: YOLOX's last epochs switch the student."""
import logging
from types import SimpleNamespace
from typing import List

import pytest
from helpers import build_toy_distill
from mmdet.engine.hooks import YOLOXModeSwitchHook
from mmengine.registry import HOOKS, DefaultScope
from torch import nn

from mmakd.engine import StudentYOLOXModeSwitchHook
from mmakd.engine.hooks.student_yolox_mode_switch_hook import student_of

SKIPPED = ('Mosaic', 'RandomAffine', 'MixUp')


class MixDataset:
    """What the hook needs of mmdet's ``MultiImageMixDataset``."""

    def __init__(self) -> None:
        self.skip_type_keys: List = []

    def update_skip_type_keys(self, keys) -> None:
        self.skip_type_keys = list(keys)


def runner(model: nn.Module, epoch: int, max_epochs: int = 300):
    return SimpleNamespace(
        model=model,
        epoch=epoch,
        max_epochs=max_epochs,
        logger=logging.getLogger('test_student_yolox_mode_switch_hook'),
        train_dataloader=SimpleNamespace(
            dataset=MixDataset(), persistent_workers=False))


def with_head(module: nn.Module) -> nn.Module:
    """``module`` with a ``bbox_head`` whose L1 loss is off, as YOLOX's."""
    module.bbox_head = nn.Module()
    module.bbox_head.use_l1 = False
    return module


@pytest.fixture
def distill() -> nn.Module:
    """A distillation model whose student has a YOLOX-like head."""
    model = build_toy_distill(None)
    with_head(model.student)
    return model


def test_mmdets_hook_fails_on_a_distillation_model(distill):
    """What this hook is for: mmdet's looks for the head on the algorithm."""
    with pytest.raises(AttributeError, match='bbox_head'):
        YOLOXModeSwitchHook(num_last_epochs=15).before_train_epoch(
            runner(distill, epoch=284))


def test_it_switches_the_students_head_and_the_pipeline_once(distill):
    hook = StudentYOLOXModeSwitchHook(num_last_epochs=15)
    run = runner(distill, epoch=283)
    hook.before_train_epoch(run)
    assert not distill.student.bbox_head.use_l1
    assert run.train_dataloader.dataset.skip_type_keys == []

    # mmdet's rule: from epoch `max_epochs - num_last_epochs - 1` (0-based).
    run.epoch = 284
    hook.before_train_epoch(run)
    assert distill.student.bbox_head.use_l1
    assert run.train_dataloader.dataset.skip_type_keys == list(SKIPPED)
    assert not hasattr(distill.teacher, 'bbox_head')

    run.train_dataloader.dataset.skip_type_keys = ['again?']
    run.epoch = 285
    hook.before_train_epoch(run)
    assert run.train_dataloader.dataset.skip_type_keys == ['again?']


def test_on_a_plain_detector_it_is_mmdets_hook():
    detector = with_head(nn.Module())
    assert student_of(detector) is detector
    StudentYOLOXModeSwitchHook(num_last_epochs=15).before_train_epoch(
        runner(detector, epoch=284))
    assert detector.bbox_head.use_l1


def test_a_recipe_builds_it_from_its_student_configs_scope():
    """The runner builds custom hooks (their `priority` taken out) in the
    config's scope, mmdet's for a recipe on an mmdet student: the type needs
    MMRazor's prefix there."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        hook = HOOKS.build(
            dict(type='mmrazor.StudentYOLOXModeSwitchHook',
                 num_last_epochs=15))
    assert type(hook) is StudentYOLOXModeSwitchHook
    assert isinstance(hook, YOLOXModeSwitchHook)
    assert hook.num_last_epochs == 15 and tuple(hook.skip_type_keys) == \
        SKIPPED
