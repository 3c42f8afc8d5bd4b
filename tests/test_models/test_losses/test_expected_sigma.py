"""``sigma='expected'``: sigma from the closed-form E_i[(A_i - T)^2]."""
from unittest import mock

import pytest
import torch
from helpers import CWD, cwd
from mmrazor.registry import MODELS
from test_models.test_distillers.test_avatar_distiller import Setup

import mmakd  # noqa: F401
from mmakd.models.avatars.avatar_random import AvatarRandom

LOSS_MODULE = 'mmakd.models.losses.uncertainty_aware_kd_loss'


def make_loss(perturbation, **kwargs):
    return MODELS.build(
        dict(
            type='UncertaintyAwareKDLoss',
            base_loss=CWD,
            avatar_generator=dict(perturbation=perturbation),
            **kwargs))


@pytest.fixture
def tensors():
    torch.manual_seed(0)
    student = torch.randn(3, 4, 5, 5, requires_grad=True)
    teacher = torch.randn(3, 4, 5, 5)
    return student, teacher


def test_expected_sigma_matches_hand_computed_reference(tensors):
    student, teacher = tensors
    p, eps = 0.3, 1e-2
    loss = make_loss(dict(type='ElementDropout', p=p), sigma='expected',
                     eps=eps)
    avatars = loss.avatar_generator(teacher)
    value, stats = loss.forward_avatars(
        dict(preds_S=student, preds_T=teacher), avatars)
    # sigma^2 = E_x[T^2 p / (1 - p)], floored at eps * its mean.
    sigma2 = (teacher**2 * p / (1 - p)).mean(dim=0, keepdim=True)
    sigma = (sigma2 + eps * sigma2.mean()).sqrt()
    torch.testing.assert_close(value,
                               cwd(student / sigma, avatars[0] / sigma))
    torch.testing.assert_close(stats['sigma'], sigma.mean())
    # The logged spread is still that of the drawn Avatars.
    torch.testing.assert_close(stats['spread'],
                               ((avatars - teacher)**2).mean().sqrt())


def test_expected_sigma_does_not_depend_on_the_draw(tensors):
    student, teacher = tensors
    inputs = dict(preds_S=student, preds_T=teacher)
    for sigma_mode, same in (('expected', True), ('sampled', False)):
        loss = make_loss(dict(type='ChannelDropout', p=0.2),
                         sigma=sigma_mode)
        first = loss.forward_avatars(inputs, loss.avatar_generator(teacher))
        second = loss.forward_avatars(inputs,
                                      loss.avatar_generator(teacher))
        assert torch.equal(first[1]['sigma'], second[1]['sigma']) is same


def test_expected_sigma_approaches_sampled_with_many_avatars(tensors):
    student, teacher = tensors
    perturbation = dict(type='GaussianNoise', std=0.3, mode='additive')
    expected = make_loss(perturbation, sigma='expected')
    sampled = make_loss(perturbation)
    avatars = sampled.avatar_generator.perturbations[0](
        teacher.unsqueeze(0).expand(5000, *teacher.shape),
        AvatarRandom().manual_seed(1).draws('cpu', 0))
    inputs = dict(preds_S=student, preds_T=teacher)
    torch.testing.assert_close(
        expected.forward_avatars(inputs, avatars[:1])[1]['sigma'],
        sampled.forward_avatars(inputs, avatars)[1]['sigma'],
        rtol=0.02,
        atol=0)


def test_no_closed_form_falls_back_to_sampled_and_says_so(tensors):
    student, teacher = tensors
    perturbation = [
        dict(type='GaussianNoise', std=0.1, mode='additive'),
        dict(type='ElementDropout', p=0.1)
    ]
    expected = make_loss(perturbation, sigma='expected')
    sampled = make_loss(perturbation)
    avatars = expected.avatar_generator(teacher)
    inputs = dict(preds_S=student, preds_T=teacher)
    with mock.patch(f'{LOSS_MODULE}.print_log') as log:
        got = expected.forward_avatars(inputs, avatars)
        expected.forward_avatars(inputs, avatars)
    ref = sampled.forward_avatars(inputs, avatars)
    torch.testing.assert_close(got[0], ref[0])
    torch.testing.assert_close(got[1]['sigma'], ref[1]['sigma'])
    log.assert_called_once()
    assert "sigma='expected' has no closed form" in log.call_args[0][0]


def test_distiller_passes_sigma_and_its_perturbation():
    """An explicit wrapper without its own generator: the distiller's
    perturbation (channel dropout p = 0.3) gives sigma, not the wrapper's
    default generator (element dropout p = 0.1)."""
    losses = dict(
        loss_cwd=dict(type='UncertaintyAwareKDLoss', base_loss=CWD),
        loss_mse=dict(type='L2Loss'),
        loss_pkd=dict(type='PKDLoss'))
    p, eps = 0.3, 1e-2
    setup = Setup(
        sigma='expected',
        uncertainty_eps=eps,
        distill_losses=losses,
        avatar_generator=dict(perturbation=dict(type='ChannelDropout', p=p)))
    for loss in setup.distiller.distill_losses.values():
        assert loss.sigma == 'expected'
    stats = setup.losses()
    teacher = setup.teacher_record()
    sigma2 = (teacher**2 * p / (1 - p)).mean(dim=0, keepdim=True)
    sigma = (sigma2 + eps * sigma2.mean()).sqrt()
    torch.testing.assert_close(stats['akd_sigma.cwd'], sigma.mean())


def test_explicit_wrapper_keeps_its_own_sigma():
    losses = dict(
        loss_cwd=dict(type='UncertaintyAwareKDLoss', base_loss=CWD,
                      sigma='expected'),
        loss_mse=dict(type='L2Loss'),
        loss_pkd=dict(type='PKDLoss'))
    distiller = Setup(distill_losses=losses).distiller
    assert distiller.distill_losses['loss_cwd'].sigma == 'expected'
    assert distiller.distill_losses['loss_mse'].sigma == 'sampled'
