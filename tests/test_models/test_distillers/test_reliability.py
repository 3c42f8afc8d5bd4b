"""AvatarDistiller's accepted input forms, ConfigurableDistiller's contract
and the random state in the state dict."""
import copy

import pytest
import torch
from helpers import CWD
from test_models.test_distillers.test_avatar_distiller import (Setup,
                                                               distiller_cfg,
                                                               only_losses)

import mmakd  # noqa: F401
from mmakd.models import UncertaintyAwareKDLoss
from mmakd.models.losses.uncertainty_aware_kd_loss import default_generator


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
