"""AvatarDistiller under faults: NaN/inf, loss growth, accepted input forms,
ConfigurableDistiller's contract and the random state in the state dict."""
import copy

import pytest
import torch
from helpers import CWD
from mmengine.logging import MessageHub, MMLogger
from test_models.test_distillers.test_avatar_distiller import (Setup,
                                                               distiller_cfg,
                                                               only_losses)

import mmakd  # noqa: F401
from mmakd.models import UncertaintyAwareKDLoss
from mmakd.models.distillers.avatar_distiller import (FIRST_CHECKED_ITERS,
                                                      should_check)
from mmakd.models.losses.uncertainty_aware_kd_loss import default_generator


class Poisoned(Setup):
    """Setup whose student or teacher record gets one bad value."""

    def __init__(self, side, value, **cfg):
        super().__init__(**cfg)
        module = self.student if side == 'student' else self.teacher
        # Before the recorded head, whose recorder hook runs first.
        module.stem.register_forward_hook(
            lambda m, args, out: out.index_put(
                (torch.tensor([0]), ), torch.tensor(value)))


@pytest.mark.parametrize('side', ['student', 'teacher'])
@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_non_finite_record_is_named(side, value):
    setup = Poisoned(side, value)
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 7)
    try:
        with pytest.raises(FloatingPointError) as info:
            setup.losses()
    finally:
        hub.pop_info('iter')
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
        setup.losses()


def test_clean_iterations_pass_and_name_the_last_clean_one():
    setup = Poisoned('teacher', float('nan'))
    hook = setup.teacher.stem._forward_hooks.popitem()[1]
    setup.losses()  # iteration 0, clean
    setup.teacher.stem.register_forward_hook(hook)
    with pytest.raises(FloatingPointError,
                       match=r'at iteration 1 \(last checked clean at '
                       r'iteration 0\)'):
        setup.losses()


def test_gpu_checks_skip_most_iterations():
    """On an accelerator most iterations read nothing from the device."""
    checked = [i for i in range(200) if should_check(i, 50, on_cpu=False)]
    assert checked == list(range(FIRST_CHECKED_ITERS)) + [49, 99, 149, 199]
    assert [i for i in range(200) if should_check(i, 0, False)] == \
        list(range(FIRST_CHECKED_ITERS))
    assert all(should_check(i, 50, on_cpu=True) for i in range(200))


def test_cpu_checks_every_iteration_whatever_the_interval():
    setup = Poisoned('teacher', float('nan'), check_finite_interval=0)
    hub = MessageHub.get_current_instance()
    # On the CPU every iteration is checked, whatever the interval.
    hub.update_info('iter', 500)
    try:
        with pytest.raises(FloatingPointError):
            setup.losses()
    finally:
        hub.pop_info('iter')


def test_loss_growth_is_logged_once(monkeypatch):
    setup = Setup(uncertainty='paper')
    messages = []
    logger = MMLogger.get_current_instance()
    monkeypatch.setattr(logger, 'warning', messages.append)
    monkeypatch.setattr(
        logger, 'log', lambda level, msg, *a, **k: messages.append(msg))
    setup.losses()
    with torch.no_grad():
        setup.student.head.weight.mul_(1e3)
        setup.student.head.bias.mul_(1e3)
    setup.losses()
    setup.losses()
    grew = [m for m in messages if 'grew from' in m]
    assert grew, messages
    for name in ('loss_cwd', 'loss_mse', 'loss_pkd'):
        assert sum(f"distill loss '{name}' grew" in m for m in grew) <= 1
    assert all('at iteration 0 to' in m and 'at iteration 1.' in m
               and 'mean sigma now' in m for m in grew)


def test_exclude_losses_forms():
    one = Setup(exclude_losses='loss_mse').distiller.distill_losses
    assert not isinstance(one['loss_mse'], UncertaintyAwareKDLoss)
    assert isinstance(one['loss_cwd'], UncertaintyAwareKDLoss)
    none = Setup(exclude_losses=None).distiller.distill_losses
    assert all(isinstance(m, UncertaintyAwareKDLoss) for m in none.values())


@pytest.mark.parametrize('given, num_avatars, p', [
    (None, 1, 0.1),
    (dict(num_avatars=2), 2, 0.1),
    (dict(type='AvatarGenerator', perturbation=dict(
        type='ElementDropout', p=0.3)), 1, 0.3),
])
def test_generator_forms_are_the_same_for_both(given, num_avatars, p):
    from_distiller = Setup(avatar_generator=given).distiller.avatar_generator
    from_wrapper = UncertaintyAwareKDLoss(
        base_loss=CWD, avatar_generator=given).avatar_generator
    if given is None:  # the wrapper's own: none; a direct call: the default
        assert from_wrapper is None
        from_wrapper = default_generator()
    for gen in (from_distiller, from_wrapper):
        assert gen.num_avatars == num_avatars
        assert gen.perturbations[0].p == p


def test_unmapped_wrapper_behaves_as_configurable_distiller():
    losses = copy.deepcopy(distiller_cfg()['distill_losses'])
    losses['loss_u'] = dict(type='UncertaintyAwareKDLoss',
                            base_loss=dict(type='L2Loss'))
    for mappings in ('given', None):
        extra = {} if mappings else dict(loss_forward_mappings=None)
        base = Setup('ConfigurableDistiller', distill_losses=losses, **extra)
        akd = Setup(distill_losses=losses, **extra)
        assert set(only_losses(akd.losses())) == set(base.losses())
        assert isinstance(akd.distiller.distill_losses['loss_u'],
                          UncertaintyAwareKDLoss)


def test_explicit_wrapper_gets_the_distiller_options_it_does_not_set():
    losses = copy.deepcopy(distiller_cfg()['distill_losses'])
    losses['loss_cwd'] = dict(type='UncertaintyAwareKDLoss', base_loss=CWD)
    losses['loss_mse'] = dict(type='UncertaintyAwareKDLoss',
                              base_loss=dict(type='L2Loss'), eps=0.5,
                              uncertainty='none')
    built = Setup(distill_losses=losses, uncertainty='official',
                  uncertainty_eps=0.2).distiller.distill_losses
    assert (built['loss_cwd'].uncertainty, built['loss_cwd'].eps) == \
        ('official', 0.2)
    assert (built['loss_mse'].uncertainty, built['loss_mse'].eps) == \
        ('none', 0.5)


def test_state_dict_holds_tensors_only_and_draws_leave_torchs_stream():
    setup = Setup()
    state = setup.distiller.state_dict()
    assert state and all(
        isinstance(value, torch.Tensor) for value in state.values())
    assert not any(key.endswith('_extra_state') for key in state)
    before = torch.get_rng_state()
    first = only_losses(setup.losses())
    assert torch.equal(torch.get_rng_state(), before)
    assert not torch.equal(first['loss_cwd'],
                           only_losses(setup.losses())['loss_cwd'])


def test_base_kd_and_legacy_weights_load_strictly():
    base = Setup('ConfigurableDistiller').distiller.state_dict()
    akd = Setup()
    akd.distiller.load_state_dict(dict(base), strict=True)
    # Earlier versions saved torch's random state there: it is ignored.
    legacy = dict(base, _extra_state={'torch': torch.get_rng_state()})
    before = torch.get_rng_state()
    akd.distiller.load_state_dict(legacy, strict=True)
    assert torch.equal(torch.get_rng_state(), before)
