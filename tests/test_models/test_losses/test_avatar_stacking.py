import pytest
import torch
from mmrazor.models.losses import ChannelWiseDivergence
from mmrazor.registry import MODELS

import mmakd  # noqa: F401
from mmakd.models.losses.avatar_stacking import repeat_along_batch, stacking_of


@pytest.mark.parametrize('base, stacking', [
    (dict(type='ChannelWiseDivergence', tau=1.0), 'repeat'),
    (dict(type='L2Loss'), 'repeat'),  # normalize=True: per sample
    (dict(type='L2Loss', normalize=False), 'broadcast'),
])
def test_batch_mean_losses_take_the_avatars_stacked(base, stacking):
    assert stacking_of(MODELS.build(base)) == stacking


@pytest.mark.parametrize('base', [
    dict(type='PKDLoss'),
    dict(type='L2Loss', dist=True),
    dict(type='KLDivergence'),
    dict(type='MGDLoss', alpha_mgd=1.0),
    dict(type='MMAKDFGDLoss', in_channels=4),
])
def test_other_losses_are_called_once_per_avatar(base):
    assert stacking_of(MODELS.build(base)) is None


def test_a_subclass_of_a_stackable_loss_is_called_once_per_avatar():

    class PerSampleCWD(ChannelWiseDivergence):
        pass

    assert stacking_of(PerSampleCWD()) is None


@pytest.mark.parametrize('batch', [1, 3])
def test_repeat_along_batch_is_contiguous_copies(batch):
    x = torch.randn(batch, 2, 3)
    repeated = repeat_along_batch(x, 4)
    assert repeated.shape == (4 * batch, 2, 3)
    assert repeated.is_contiguous()
    for i in range(4):
        assert torch.equal(repeated[i * batch:(i + 1) * batch], x)
    repeated.view(4 * batch, -1)  # what CWD does with its input
