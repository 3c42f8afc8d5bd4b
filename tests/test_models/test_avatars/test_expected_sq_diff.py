"""Closed forms of ``E_i[(A_i - T)^2]`` against Monte-Carlo estimates."""
import pytest
import torch

import mmakd  # noqa: F401
from mmakd.models.avatars import AvatarGenerator
from mmakd.models.avatars.perturbations import expected_sq_diff

NUM_DRAWS = 20000

CLOSED_FORMS = [
    [dict(type='ElementDropout', p=0.3)],
    [dict(type='ChannelDropout', p=0.3)],
    [dict(type='SpatialMask', p=0.3)],
    [dict(type='GaussianNoise', std=0.2, mode='multiplicative')],
    [dict(type='GaussianNoise', std=0.2, mode='additive')],
    # Composed multiplicative perturbations: T^2 (prod E[g^2] - 1).
    [dict(type='ElementDropout', p=0.2), dict(type='ChannelDropout', p=0.3)],
    [dict(type='SpatialMask', p=0.2),
     dict(type='GaussianNoise', std=0.3, mode='multiplicative')],
]


def monte_carlo(generator: AvatarGenerator,
                teacher: torch.Tensor) -> torch.Tensor:
    avatars = generator(teacher)
    return (avatars - teacher).pow(2).mean(dim=0)


@pytest.mark.parametrize(
    'perturbation', CLOSED_FORMS,
    ids=['+'.join(p['type'] + p.get('mode', '')[:3] for p in c)
         for c in CLOSED_FORMS])
def test_closed_form_matches_monte_carlo(perturbation):
    torch.manual_seed(0)
    teacher = torch.randn(2, 3, 4, 4) * 2 + 0.5
    generator = AvatarGenerator(
        num_avatars=NUM_DRAWS, perturbation=perturbation)
    expected = expected_sq_diff(generator.perturbations, teacher)
    assert expected.shape == teacher.shape
    estimate = monte_carlo(generator, teacher)
    # 20000 draws: a few per cent per element, well under 1 % overall.
    torch.testing.assert_close(estimate, expected, rtol=0.08, atol=1e-6)
    torch.testing.assert_close(
        estimate.sum(), expected.sum(), rtol=0.01, atol=0)


def test_dropout_closed_form_is_t_squared_p_over_keep():
    teacher = torch.tensor([[[[1.0, -2.0], [0.0, 3.0]]]])
    generator = AvatarGenerator(
        perturbation=dict(type='ElementDropout', p=0.25))
    torch.testing.assert_close(
        expected_sq_diff(generator.perturbations, teacher),
        teacher.pow(2) * 0.25 / 0.75)


def test_additive_noise_uses_the_per_sample_std_of_the_teacher():
    torch.manual_seed(0)
    teacher = torch.randn(2, 3, 4, 4)
    teacher[1] *= 10  # the second sample's noise is 10x larger
    generator = AvatarGenerator(
        perturbation=dict(type='GaussianNoise', std=0.5, mode='additive'))
    expected = expected_sq_diff(generator.perturbations, teacher)
    for b in range(2):
        scale2 = (0.5 * teacher[b].std())**2
        torch.testing.assert_close(expected[b],
                                   scale2.expand_as(teacher[b]))


def test_no_closed_form_for_additive_noise_in_a_composition():
    generator = AvatarGenerator(perturbation=[
        dict(type='GaussianNoise', std=0.1, mode='additive'),
        dict(type='ElementDropout', p=0.1)
    ])
    assert expected_sq_diff(generator.perturbations,
                            torch.randn(2, 3, 4, 4)) is None


def test_zero_strength_has_zero_expectation():
    teacher = torch.randn(2, 3, 4, 4)
    for cfg in (dict(type='ElementDropout', p=0.0),
                dict(type='GaussianNoise', std=0.0, mode='additive')):
        generator = AvatarGenerator(perturbation=cfg)
        assert torch.count_nonzero(
            expected_sq_diff(generator.perturbations, teacher)) == 0
