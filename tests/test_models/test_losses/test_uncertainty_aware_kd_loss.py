import inspect

import pytest
import torch
import torch.nn.functional as F
from helpers import CWD, cwd
from mmrazor.registry import MODELS
from torch import nn

import mmakd  # noqa: F401
from mmakd.models.losses import UncertaintyAwareKDLoss


@MODELS.register_module(force=True)
class WeightedMSEForTest(nn.Module):
    """A user's own loss with an extra (ground-truth-like) input."""

    def forward(self, s_feature, t_feature, weight, reduce_mean=True):
        loss = (weight * (s_feature - t_feature)**2)
        return loss.mean() if reduce_mean else loss.sum()


def make_loss(base=CWD, **kwargs):
    return MODELS.build(
        dict(type='UncertaintyAwareKDLoss', base_loss=base, **kwargs))


@pytest.fixture
def tensors():
    torch.manual_seed(0)
    student = torch.randn(3, 4, 5, 5, requires_grad=True)
    teacher = torch.randn(3, 4, 5, 5)
    avatars = teacher * (torch.rand(2, 3, 4, 5, 5) > 0.2) / 0.8
    return student, teacher, avatars


def test_forward_has_base_loss_signature():
    loss = make_loss()
    base = MODELS.build(CWD)
    assert inspect.signature(loss.forward) == inspect.signature(base.forward)
    custom = make_loss(dict(type='WeightedMSEForTest'))
    assert list(inspect.signature(custom.forward).parameters) == [
        's_feature', 't_feature', 'weight', 'reduce_mean'
    ]
    assert (custom.student_key, custom.teacher_key) == ('s_feature',
                                                        't_feature')


def test_paper_matches_hand_computed_reference(tensors):
    student, teacher, avatars = tensors
    eps = 1e-2
    loss, stats = make_loss(eps=eps).forward_avatars(
        dict(preds_S=student, preds_T=teacher), avatars)
    # sigma^2 = E_x E_i (A_i - T)^2, per (C, H, W), floored at eps * mean.
    sigma2 = torch.zeros(4, 5, 5)
    for i in range(2):
        for b in range(3):
            sigma2 += (avatars[i, b] - teacher[b])**2
    sigma2 /= 6
    sigma = torch.sqrt(sigma2 + eps * sigma2.mean())
    expected = (cwd(student / sigma, avatars[0] / sigma) +
                cwd(student / sigma, avatars[1] / sigma)) / 2
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(stats['sigma'], sigma.mean())
    spread = ((avatars - teacher)**2).mean().sqrt()
    torch.testing.assert_close(stats['spread'], spread)


def test_official_matches_batchnorm_reference(tensors):
    student, teacher, avatars = tensors
    loss, stats = make_loss(uncertainty='official').forward_avatars(
        dict(preds_S=student, preds_T=teacher), avatars)

    def bn(x):  # parameter-free BatchNorm in training mode, as released
        return F.batch_norm(x, None, None, training=True, eps=1e-5)

    expected = (cwd(bn(student), bn(avatars[0])) +
                cwd(bn(student), bn(avatars[1]))) / 2
    torch.testing.assert_close(loss, expected)
    assert set(stats) == {'spread'}


def test_official_is_channel_agnostic():
    loss = make_loss(uncertainty='official')
    for channels in (16, 256, 2048):
        s, t = torch.randn(2, channels, 3, 3), torch.randn(2, channels, 3, 3)
        assert torch.isfinite(loss(s, t))


def test_none_averages_base_loss_over_avatars(tensors):
    student, teacher, avatars = tensors
    loss, _ = make_loss(uncertainty='none').forward_avatars(
        dict(preds_S=student, preds_T=teacher), avatars)
    expected = (cwd(student, avatars[0]) + cwd(student, avatars[1])) / 2
    torch.testing.assert_close(loss, expected)


def test_identity_avatars_without_uncertainty_equal_base_loss(tensors):
    student, teacher, _ = tensors
    loss = make_loss(
        uncertainty='none',
        avatar_generator=dict(
            type='AvatarGenerator',
            perturbation=dict(type='ElementDropout', p=0.0)))
    assert torch.equal(loss(student, teacher), cwd(student, teacher))


def test_paper_without_perturbation_does_not_rescale(tensors):
    student, teacher, _ = tensors
    avatars = teacher.unsqueeze(0).clone()
    loss, stats = make_loss().forward_avatars(
        dict(preds_S=student, preds_T=teacher), avatars)
    torch.testing.assert_close(loss, cwd(student, teacher))
    assert stats['sigma'].item() == 1.0


def test_extra_inputs_pass_through_unchanged():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    weight = torch.rand(2, 3, 4, 4)
    avatars = t.unsqueeze(0) * 1.1
    loss = make_loss(dict(type='WeightedMSEForTest'), uncertainty='none')
    got, _ = loss.forward_avatars(
        dict(s_feature=s, t_feature=t, weight=weight, reduce_mean=False),
        avatars)
    torch.testing.assert_close(got, (weight * (s - t * 1.1)**2).sum())
    # Called directly, positionally and by keyword.
    assert loss(s, t, weight).ndim == 0
    assert loss(s_feature=s, t_feature=t, weight=weight).ndim == 0


def test_multi_level_inputs_are_scaled_per_level():
    torch.manual_seed(0)
    students = (torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4))
    teachers = (torch.randn(2, 4, 8, 8) * 10, torch.randn(2, 4, 4, 4))
    avatars = tuple(t.unsqueeze(0) * (torch.rand(1, *t.shape) > 0.1) / 0.9
                    for t in teachers)
    loss = make_loss(dict(type='PKDLoss'))
    got, stats = loss.forward_avatars(
        dict(preds_S=students, preds_T=teachers), avatars)
    sigmas = []
    for t, a in zip(teachers, avatars):
        sigma2 = ((a - t)**2).mean((0, 1))
        sigmas.append(torch.sqrt(sigma2 + 1e-2 * sigma2.mean()))
    base = MODELS.build(dict(type='PKDLoss'))
    expected = base(
        tuple(s / sg for s, sg in zip(students, sigmas)),
        tuple(a[0] / sg for a, sg in zip(avatars, sigmas)))
    torch.testing.assert_close(got, expected)
    assert {'sigma_0', 'sigma_1', 'spread_0', 'spread_1'} <= set(stats)


def test_gradient_reaches_student_only(tensors):
    student, _, _ = tensors
    teacher = torch.randn(3, 4, 5, 5, requires_grad=True)
    for mode in ('paper', 'official', 'none'):
        student.grad = None
        make_loss(uncertainty=mode)(student, teacher).backward()
        assert student.grad is not None and student.grad.abs().sum() > 0
        assert teacher.grad is None


def test_teacher_untouched_and_inputs_restored(tensors):
    student, teacher, avatars = tensors
    before = teacher.clone()
    loss = make_loss()
    inputs = loss.base_signature.bind(preds_S=student, preds_T=teacher)
    loss.forward_avatars(inputs, avatars)
    assert torch.equal(teacher, before)
    assert inputs.arguments['preds_T'] is teacher
    assert inputs.arguments['preds_S'] is student


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(uncertainty='bayes'), ValueError, '`uncertainty` must be one of'),
    (dict(base_loss=dict(type='NoSuchLoss')), KeyError,
     "`base_loss` type 'NoSuchLoss' is not registered"),
    (dict(base_loss='ChannelWiseDivergence'), TypeError,
     "`base_loss` must be a loss config dict"),
    (dict(base_loss=dict(type='UncertaintyAwareKDLoss', base_loss=CWD)),
     TypeError, 'wrap the base loss once'),
    (dict(student_key='x', teacher_key='preds_T'), ValueError,
     "`student_key`='x' is not an argument of ChannelWiseDivergence"),
    (dict(eps=-1.0), ValueError,
     r'`eps` \(the distiller.s `uncertainty_eps`\) '
     'must be > 0'),
    (dict(eps=0.0), ValueError, 'must be > 0, but got 0.0'),
    (dict(base_loss=dict(type=UncertaintyAwareKDLoss, base_loss=CWD)),
     TypeError, 'wrap the base loss once'),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    cfg = dict(type='UncertaintyAwareKDLoss', base_loss=CWD)
    cfg.update(kwargs)
    with pytest.raises(error, match=match):
        MODELS.build(cfg)


def test_unknown_key_names_must_be_given():

    @MODELS.register_module(force=True)
    class OddNamesLossForTest(nn.Module):

        def forward(self, a, b):
            return (a - b).pow(2).mean()

    with pytest.raises(ValueError,
                       match='set `student_key` and `teacher_key`'):
        make_loss(dict(type='OddNamesLossForTest'))
    loss = make_loss(
        dict(type='OddNamesLossForTest'), student_key='a', teacher_key='b')
    assert torch.isfinite(
        loss(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)))


def test_shape_mismatch_names_the_loss_and_shapes():
    loss = make_loss()
    with pytest.raises(ValueError,
                       match=r'ChannelWiseDivergence.*\(2, 8, 4, 4\).*'
                       r'\(2, 4, 4, 4\).*connector'):
        loss(torch.randn(2, 8, 4, 4), torch.randn(2, 4, 4, 4))
    with pytest.raises(ValueError, match='do not stack Avatars'):
        loss.forward_avatars(
            dict(preds_S=torch.randn(2, 4, 4, 4),
                 preds_T=torch.randn(2, 4, 4, 4)), torch.randn(2, 4, 4, 4))


STACKED_LOSSES = [
    (CWD, 'repeat'),
    (dict(type='ChannelWiseDivergence', tau=4.0, loss_weight=3.0), 'repeat'),
    (dict(type='L2Loss', normalize=False), 'broadcast'),
    (dict(type='L2Loss', normalize=False, div_element=True, loss_weight=2.0),
     'broadcast'),
    (dict(type='L2Loss'), 'repeat'),  # normalize=True, per sample
]


@pytest.mark.parametrize('base, stacking', STACKED_LOSSES)
@pytest.mark.parametrize('num_avatars', [1, 4])
@pytest.mark.parametrize('mode', ['paper', 'official', 'none'])
@pytest.mark.parametrize('batch', [1, 3])
def test_stacked_avatars_equal_the_per_avatar_loop(base, stacking,
                                                   num_avatars, mode, batch,
                                                   monkeypatch):
    """One call on the stacked Avatars gives the loop's loss and
    gradient, to float tolerance (batch 1 included: CWD views its input)."""
    import mmakd.models.losses.uncertainty_aware_kd_loss as wrapper_module
    assert wrapper_module.stacking_of(MODELS.build(base)) == stacking
    torch.manual_seed(0)
    teacher = torch.randn(batch, 4, 5, 6)
    avatars = teacher * (torch.rand(num_avatars, batch, 4, 5, 6) > 0.2) / 0.8
    results = []
    for stacked in (True, False):
        if not stacked:  # the plain loop: one base-loss call per Avatar
            monkeypatch.setattr(wrapper_module, 'stacking_of',
                                lambda loss: None)
        student = torch.randn(batch, 4, 5, 6, generator=torch.Generator(
        ).manual_seed(1)).requires_grad_()
        loss_module = make_loss(base, uncertainty=mode)
        student_key, teacher_key = loss_module.student_key, \
            loss_module.teacher_key
        loss, _ = loss_module.forward_avatars(
            {student_key: student, teacher_key: teacher}, avatars)
        loss.backward()
        results.append((loss.detach(), student.grad))
    (stacked_loss, stacked_grad), (loop_loss, loop_grad) = results
    torch.testing.assert_close(stacked_loss, loop_loss, rtol=1e-5,
                               atol=1e-7)
    torch.testing.assert_close(stacked_grad, loop_grad, rtol=1e-5,
                               atol=1e-8)
