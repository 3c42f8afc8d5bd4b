"""DistillLossCheckHook: NaN/inf in the Avatar losses and their inputs
stops training with a named error; a loss that grows is logged once."""
import copy

import pytest
import torch
from helpers import toy_akd_train_config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from test_models.test_distillers.test_avatar_distiller import (Setup,
                                                               distiller_cfg)

from mmakd.engine.hooks import DistillLossCheckHook
from mmakd.engine.hooks.distill_loss_check_hook import (FIRST_CHECKED_ITERS,
                                                        should_check)


class Poisoned(Setup):
    """Setup whose student or teacher record gets one bad value."""

    def __init__(self, side, value, **cfg):
        super().__init__(**cfg)
        module = self.student if side == 'student' else self.teacher
        # Before the recorded head, whose recorder hook runs first.
        module.stem.register_forward_hook(
            lambda m, args, out: out.index_put(
                (torch.tensor([0]), ), torch.tensor(value)))


def checked(setup: Setup, hook: DistillLossCheckHook, iteration: int = 0):
    """One iteration's losses, checked by ``hook`` as after the step."""
    losses = setup.losses()
    hook.check(setup.distiller, losses, iteration)
    return losses


@pytest.mark.parametrize('side', ['student', 'teacher'])
@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_non_finite_record_is_named(side, value):
    with pytest.raises(FloatingPointError) as info:
        checked(Poisoned(side, value), DistillLossCheckHook(), iteration=7)
    message = str(info.value)
    assert f"the {side} record 'feat'" in message
    assert "of loss 'loss_cwd'" in message  # the first loss that reads it
    assert 'at iteration 7' in message


def test_non_finite_loss_is_named():
    # Finite inputs, an infinite loss: a loss weight of inf.
    losses = copy.deepcopy(distiller_cfg()['distill_losses'])
    losses['loss_mse'] = dict(type='L2Loss', loss_weight=float('inf'))
    setup = Setup(distill_losses=losses)
    with pytest.raises(FloatingPointError,
                       match="loss 'loss_mse' is inf at iteration 0 although "
                       'its inputs are finite'):
        checked(setup, DistillLossCheckHook())


def test_clean_iterations_pass_and_name_the_last_clean_one():
    setup = Poisoned('teacher', float('nan'))
    hook = DistillLossCheckHook()
    poison = setup.teacher.stem._forward_hooks.popitem()[1]
    checked(setup, hook, 0)  # clean
    setup.teacher.stem.register_forward_hook(poison)
    with pytest.raises(FloatingPointError,
                       match=r'at iteration 1 \(last checked clean at '
                       r'iteration 0\)'):
        checked(setup, hook, 1)


def test_gpu_checks_skip_most_iterations():
    """On an accelerator most iterations read nothing from the device."""
    checked_iters = [i for i in range(200) if should_check(i, 50, False)]
    assert checked_iters == list(range(FIRST_CHECKED_ITERS)) + [
        49, 99, 149, 199
    ]
    assert [i for i in range(200) if should_check(i, 0, False)] == \
        list(range(FIRST_CHECKED_ITERS))
    assert all(should_check(i, 50, on_cpu=True) for i in range(200))


def test_cpu_checks_every_iteration_whatever_the_interval():
    with pytest.raises(FloatingPointError):
        checked(Poisoned('teacher', float('nan')),
                DistillLossCheckHook(interval=0), iteration=500)


def test_loss_growth_is_logged_once(monkeypatch):
    setup = Setup(uncertainty='paper')
    hook = DistillLossCheckHook()
    messages = []
    logger = MMLogger.get_current_instance()
    monkeypatch.setattr(logger, 'warning', messages.append)
    monkeypatch.setattr(
        logger, 'log', lambda level, msg, *a, **k: messages.append(msg))
    checked(setup, hook, 0)
    with torch.no_grad():
        setup.student.head.weight.mul_(1e3)
        setup.student.head.bias.mul_(1e3)
    checked(setup, hook, 1)
    checked(setup, hook, 2)
    grew = [m for m in messages if 'grew from' in m]
    assert grew, messages
    for name in ('loss_cwd', 'loss_mse', 'loss_pkd'):
        assert sum(f"distill loss '{name}' grew" in m for m in grew) <= 1
    assert all('at iteration 0 to' in m and 'at iteration 1.' in m
               and 'mean sigma now' in m for m in grew)


@pytest.mark.parametrize('interval', [-1, 1.5, True])
def test_interval_must_be_an_int(interval):
    with pytest.raises(ValueError, match='`interval` must be an int >= 0'):
        DistillLossCheckHook(interval=interval)


def train(tmp_path, *hooks, **overrides) -> Runner:
    """The toy AKD recipe through mmengine's Runner with ``hooks``."""
    runner = Runner.from_cfg(
        toy_akd_train_config(
            str(tmp_path), hooks, **{
                'train_cfg.max_iters': 3,
                **overrides
            }))
    runner.train()
    return runner


def test_runner_stops_at_the_first_infinite_loss(tmp_path):
    inf = {'model.distiller.distill_losses.loss_kl.loss_weight': float('inf')}
    with pytest.raises(FloatingPointError,
                       match=r"^DistillLossCheckHook: loss 'loss_kl' is inf "
                       'at iteration 0 although its inputs are finite'):
        train(tmp_path, dict(type='DistillLossCheckHook'), **inf)
    # No checkpoint of the broken iteration.
    assert not list(tmp_path.rglob('*.pth'))
    # Without the hook nothing stops the run.
    train(tmp_path / 'unchecked', **inf)


def test_runner_with_clean_losses_trains_to_the_end(tmp_path):
    runner = train(tmp_path, dict(type='DistillLossCheckHook'))
    assert runner.iter == 3
    hook = [h for h in runner.hooks if isinstance(h, DistillLossCheckHook)]
    assert hook[0]._last_clean == 2


def test_a_model_without_a_distiller_is_a_named_error():
    runner = type('R', (), dict(model=torch.nn.Linear(1, 1), iter=0))()
    with pytest.raises(TypeError, match='DistillLossCheckHook checks the '
                       'losses of an MMRazor distiller'):
        DistillLossCheckHook().after_train_iter(runner, 0, outputs={})
