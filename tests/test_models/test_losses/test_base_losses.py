"""The table of base losses: each entry's keys, release form and stacking."""
import mmakd  # noqa: F401 isort: split
import pytest
import torch
from mmrazor.models.losses import ChannelWiseDivergence
from mmrazor.registry import MODELS

from mmakd.models import UncertaintyAwareKDLoss
from mmakd.models.losses.base_losses import (BASE_LOSSES, release_form,
                                             repeat_along_batch, stacking_of)


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


# ------------------------------------------------ the table of base losses
def _fgd_inputs():
    from test_models.test_losses.test_fgd_loss import batch_samples, features
    preds_S, preds_T = features()
    return dict(preds_S=preds_S.float().detach(),
                preds_T=preds_T.float().detach(),
                data_samples=batch_samples())


def _maskd_inputs():
    from test_models.test_losses.test_maskd_loss import C
    torch.manual_seed(0)
    return dict(preds_S=torch.randn(2, C, 6, 6),
                preds_T=torch.randn(2, C, 6, 6))


def _features(key_s, key_t, shape=(2, 4, 6, 6)):
    def make():
        torch.manual_seed(0)
        return {key_s: torch.randn(shape), key_t: torch.randn(shape)}
    return make


#: One case per entry of BASE_LOSSES: a config and its inputs.
TABLE_CASES = {
    'ChannelWiseDivergence': (dict(type='ChannelWiseDivergence', tau=1.0),
                              _features('preds_S', 'preds_T')),
    'MGDLoss': (dict(type='MGDLoss', alpha_mgd=1.0),
                _features('preds_S', 'preds_T')),
    'PKDLoss': (dict(type='PKDLoss'), _features('preds_S', 'preds_T')),
    'L2Loss': (dict(type='L2Loss'), _features('s_feature', 't_feature')),
    'L1Loss': (dict(type='L1Loss'), _features('s_feature', 't_feature')),
    'KLDivergence': (dict(type='KLDivergence'),
                     _features('preds_S', 'preds_T', (4, 10))),
    'MMAKDFGDLoss': (dict(type='MMAKDFGDLoss', in_channels=6), _fgd_inputs),
    'MasKDLoss': (None, _maskd_inputs),
}


def test_every_table_entry_has_its_case():
    assert set(TABLE_CASES) == set(BASE_LOSSES)


@pytest.mark.parametrize('name', sorted(BASE_LOSSES))
def test_each_table_entry_is_wrapped_with_its_keys(name):
    cfg, inputs = TABLE_CASES[name]
    if cfg is None:  # MasKD: tokens set as its own tests set them
        from test_models.test_losses.test_maskd_loss import maskd
        cfg = maskd()
    spec = BASE_LOSSES[name]
    uncertainty = 'official' if spec.release == 'before_generation' \
        else 'release'
    wrapped = UncertaintyAwareKDLoss(
        base_loss=cfg, uncertainty=uncertainty,
        avatar_generator=dict(num_avatars=2))
    assert (wrapped.student_key, wrapped.teacher_key) == \
        (spec.student_key, spec.teacher_key)
    assert release_form(wrapped.base_loss) == spec.release
    args = inputs()
    student = args[spec.student_key].requires_grad_()
    value = wrapped(**args)
    assert torch.isfinite(value)
    value.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()


def test_a_loss_outside_the_table_needs_its_keys():
    # DIST names its arguments logits_S / logits_T: unknown to the table.
    with pytest.raises(ValueError) as info:
        UncertaintyAwareKDLoss(base_loss=dict(type='DISTLoss'))
    message = str(info.value)
    assert 'DISTLoss is not in the table of base losses' in message
    for name in BASE_LOSSES:  # the error lists the table
        assert name in message
    given = UncertaintyAwareKDLoss(
        base_loss=dict(type='DISTLoss'), student_key='logits_S',
        teacher_key='logits_T')
    assert (given.student_key, given.teacher_key) == ('logits_S', 'logits_T')
    # AT uses the table's argument names: inferred, the generic entry.
    named = UncertaintyAwareKDLoss(base_loss=dict(type='ATLoss'),
                                   uncertainty='official')
    assert (named.student_key, named.teacher_key) == ('s_feature',
                                                      't_feature')
    assert release_form(named.base_loss) == 'both'
    assert stacking_of(named.base_loss) is None
    torch.manual_seed(0)
    value = named(torch.randn(2, 4, 6, 6), torch.randn(2, 4, 6, 6))
    assert torch.isfinite(value)
