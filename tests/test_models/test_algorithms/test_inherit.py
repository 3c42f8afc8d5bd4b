"""The ``inherit`` option: what is copied, when, what is logged, and the
errors of a choice that copies nothing."""
import uuid

import pytest
import torch
from helpers import build_toy_distill, toy_config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from mmakd.models.algorithms import NothingToInherit

WIDE = dict(type='ToyNet', channels=16)  # head.weight (4, 16), bias (4,)


@pytest.mark.parametrize(
    'algorithm', ['MMAKDSingleTeacherDistill', 'MMAKDFpnTeacherDistill'])
def test_matching_tensors_are_copied_after_init_weights(
        teacher_ckpt, algorithm, monkeypatch):
    logged = []
    monkeypatch.setattr(MMLogger.get_current_instance(), 'info', logged.append)
    model = build_toy_distill(str(teacher_ckpt), type=algorithm, inherit=True)
    # build_toy_distill ran init_weights(): the bias fits, the weight not.
    assert model.inherit_plan.copied == ['head.bias']
    assert [k for k, _ in model.inherit_plan.skipped] == ['head.weight']
    assert torch.equal(model.student.head.bias, model.teacher.head.bias)
    assert not torch.equal(model.student.head.weight[:, :4],
                           model.teacher.head.weight[:, :4])
    summary = [m for m in logged if m.startswith('inherit:')]
    assert len(summary) == 1
    assert 'copied 1 tensors from the teacher into the student (head: 1)' \
        in summary[0]
    assert 'head.weight: teacher (4, 16), student (4, 4)' in summary[0]


def test_no_inherit_copies_nothing(teacher_ckpt):
    model = build_toy_distill(str(teacher_ckpt))
    assert model.inherit_plan is None
    assert not torch.equal(model.student.head.bias, model.teacher.head.bias)


def test_runner_inherits_before_the_first_iteration(teacher_ckpt, tmp_path):
    """Through mmengine's Runner: init_weights() copies before training."""

    class Check(Hook):
        seen = []

        def before_train(self, runner):
            model = runner.model
            self.seen.append(
                torch.equal(model.student.head.bias, model.teacher.head.bias))

    cfg = toy_config(**{'train_cfg.max_iters': 1})
    cfg.model.update(teacher_ckpt=str(teacher_ckpt), inherit=['head'])
    cfg.update(
        work_dir=str(tmp_path),
        log_level='WARNING',
        experiment_name=uuid.uuid4().hex)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(Check())
    runner.train()
    assert Check.seen == [True]


def test_a_choice_that_copies_nothing_is_refused():
    with pytest.raises(
            NothingToInherit,
            match=r"`inherit`=\['backbone'\] copies nothing.*\n"
            r'inherit: copied 0 tensors from the teacher into the student\n'
            r'inherit: skipped 2:\n  backbone.0.weight: teacher '
            r'\(16, 3, 3, 3\), student \(4, 3, 3, 3\)'):
        build_toy_distill(None, teacher=WIDE, inherit=['backbone'])


@pytest.mark.parametrize('inherit,error,match', [
    (['neck'], ValueError, r"`inherit` names \['neck'\], which the student "
     r"\(ToyNet\) does not have; its modules are \['backbone', 'head'\]"),
    (3, TypeError, r'`inherit` must be True, False or a list of student '
     r'module names.*got 3'),
    ([], TypeError, r'`inherit` must be .* got \[\]'),
])
def test_bad_inherit_is_named(inherit, error, match):
    with pytest.raises(error, match=match):
        build_toy_distill(None, inherit=inherit)
