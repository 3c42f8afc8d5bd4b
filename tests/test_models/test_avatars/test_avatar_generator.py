import pytest
import torch
from mmrazor.registry import MODELS

import mmakd  # noqa: F401
from mmakd.models.avatars import AvatarGenerator

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def test_registered_in_mmrazor_scope():
    gen = MODELS.build(dict(type='mmrazor.AvatarGenerator', num_avatars=3))
    assert isinstance(gen, AvatarGenerator)
    assert gen.num_avatars == 3


@pytest.mark.parametrize('scope', ['mmrazor', 'mmdet', None])
def test_perturbations_build_from_their_registry_in_any_scope(
        scope, monkeypatch):
    """``PERTURBATIONS.build`` finds the type whatever the default scope,
    without mmengine's 'failed to search registry' fallback."""
    import mmengine.logging
    from mmengine.registry import DefaultScope
    logged = []
    monkeypatch.setattr(mmengine.logging, 'print_log',
                        lambda msg, *a, **kw: logged.append(msg))
    with DefaultScope.overwrite_default_scope(scope):
        gen = AvatarGenerator(
            perturbation=[dict(type='ChannelDropout', p=0.2),
                          dict(type='mmakd.GaussianNoise', std=0.1)])
    assert [type(p).__name__ for p in gen.perturbations] == [
        'ChannelDropout', 'GaussianNoise'
    ]
    assert gen.perturbations[0].p == 0.2
    assert not [m for m in logged if 'Failed to search registry' in m]


def test_stacks_n_avatars_per_level():
    gen = AvatarGenerator(num_avatars=4)
    feat = torch.randn(2, 8, 5, 6)
    assert gen(feat).shape == (4, 2, 8, 5, 6)
    levels = gen((feat, torch.randn(2, 8, 3, 3)))
    assert isinstance(levels, tuple)
    assert [a.shape for a in levels] == [(4, 2, 8, 5, 6), (4, 2, 8, 3, 3)]
    assert isinstance(gen([feat]), list)


def test_fresh_draw_every_call_and_reproducible_under_seed():
    gen = AvatarGenerator(num_avatars=2)
    feat = torch.randn(2, 8, 5, 6)
    gen.manual_seed(0)
    first, second = gen(feat), gen(feat)
    assert not torch.equal(first, second)
    # The Avatars differ from each other.
    assert not torch.equal(first[0], first[1])
    gen.manual_seed(0)
    assert torch.equal(gen(feat), first)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16,
                                   torch.bfloat16])
def test_dtypes_devices_no_inplace_no_grad(device, dtype):
    gen = AvatarGenerator(
        num_avatars=3,
        perturbation=[
            dict(type='ElementDropout', p=0.2),
            dict(type='ChannelDropout', p=0.2),
            dict(type='SpatialMask', p=0.2),
            dict(type='GaussianNoise', std=0.1, mode='multiplicative'),
            dict(type='GaussianNoise', std=0.1, mode='additive'),
        ])
    teacher = torch.randn(2, 4, 6, 6, device=device, dtype=dtype,
                          requires_grad=True)
    before = teacher.detach().clone()
    avatars = gen(teacher)
    assert avatars.dtype == dtype and avatars.device == teacher.device
    assert torch.isfinite(avatars.float()).all()
    assert not avatars.requires_grad  # no gradient path into the teacher
    assert torch.equal(teacher.detach(), before)


def test_element_dropout_statistics():
    p = 0.3
    gen = AvatarGenerator(num_avatars=2000,
                          perturbation=dict(type='ElementDropout', p=p))
    teacher = torch.rand(2, 3, 4, 4) + 0.5  # no zeros of its own
    torch.manual_seed(1)
    avatars = gen(teacher)
    zero_fraction = (avatars == 0).float().mean().item()
    assert zero_fraction == pytest.approx(p, abs=0.01)
    kept = avatars[avatars != 0]
    scaled = (teacher / (1 - p)).expand_as(avatars)[avatars != 0]
    torch.testing.assert_close(kept, scaled)  # inverted scaling
    # E[A] = T: the mean over many Avatars converges to the teacher.
    torch.testing.assert_close(
        avatars.mean(0), teacher, atol=0.05 * teacher.max().item(), rtol=0)


def test_channel_dropout_and_spatial_mask_shapes_of_masks():
    teacher = torch.rand(2, 6, 5, 5) + 0.5
    torch.manual_seed(2)
    channel = AvatarGenerator(
        num_avatars=8, perturbation=dict(type='ChannelDropout', p=0.5))(
            teacher)
    dropped = channel == 0
    # A channel is dropped as a whole: all positions or none.
    assert torch.equal(dropped.all((-2, -1)), dropped.any((-2, -1)))
    assert dropped.any()
    spatial = AvatarGenerator(
        num_avatars=8, perturbation=dict(type='SpatialMask', p=0.5))(
            teacher)
    masked = spatial == 0
    # A position is masked in every channel at once.
    assert torch.equal(masked.all(2), masked.any(2))
    assert masked.any()


def test_gaussian_noise_levels():
    teacher = torch.randn(4, 8, 16, 16)
    torch.manual_seed(3)
    mult = AvatarGenerator(
        num_avatars=50,
        perturbation=dict(type='GaussianNoise', std=0.2))(teacher)
    rel = (mult / teacher.unsqueeze(0) - 1)[teacher.abs().expand_as(mult) >
                                            0.1]
    assert rel.std().item() == pytest.approx(0.2, rel=0.05)
    add = AvatarGenerator(
        num_avatars=50,
        perturbation=dict(type='GaussianNoise', std=0.2,
                          mode='additive'))(teacher * 10)
    noise = add - teacher.unsqueeze(0) * 10
    assert noise.std().item() == pytest.approx(0.2 * 10, rel=0.05)


def test_identity_perturbation_returns_a_copy():
    teacher = torch.randn(2, 3, 4, 4)
    avatars = AvatarGenerator(
        num_avatars=2, perturbation=dict(type='ElementDropout', p=0.0))(
            teacher)
    assert torch.equal(avatars, teacher.expand(2, *teacher.shape))
    avatars += 1  # writable, and does not touch the teacher
    assert not torch.equal(avatars[0], teacher)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_avatars=0), '`num_avatars` must be an int >= 1'),
    (dict(num_avatars=1.5), '`num_avatars` must be an int >= 1'),
    (dict(num_avatars=True), '`num_avatars` must be an int >= 1'),
    (dict(perturbation=[]), '`perturbation` is an empty list'),
    (dict(perturbation=dict(type='ElementDropout', p=1.0)),
     r'`p` must be in \[0, 1\)'),
    (dict(perturbation=dict(type='ChannelDropout', p=-0.1)),
     r'`p` must be in \[0, 1\)'),
    (dict(perturbation=dict(type='GaussianNoise', mode='sideways')),
     '`mode` must be one of'),
    (dict(perturbation=dict(type='GaussianNoise', std=-1)),
     '`std` must be >= 0'),
    (dict(perturbation=dict(type='Cutout')),
     "unknown `perturbation` type 'Cutout'"),
    (dict(perturbation=dict(p=0.1)), "dict with a 'type'"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises((ValueError, KeyError, TypeError), match=match):
        AvatarGenerator(**kwargs)


def test_spatial_mask_needs_spatial_dims():
    gen = AvatarGenerator(perturbation=dict(type='SpatialMask', p=0.1))
    with pytest.raises(ValueError, match='SpatialMask needs a feature'):
        gen(torch.randn(2, 10))
    with pytest.raises(TypeError, match='expects a tensor'):
        gen('feature')


def test_building_a_perturbation_finds_mmakds_registry(caplog):
    """mmengine imports ``mmakd.registry`` for the 'mmakd' scope: no
    'Failed to import' warning when a generator is built."""
    import logging

    from mmengine.logging import MMLogger

    import mmakd.registry
    assert mmakd.registry.PERTURBATIONS.scope == 'mmakd'
    logger = MMLogger.get_current_instance()
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger.addHandler(handler)
    try:
        AvatarGenerator(perturbation=dict(type='SpatialMask', p=0.2))
    finally:
        logger.removeHandler(handler)
    assert not [m for m in messages if 'Failed to import' in m], messages
