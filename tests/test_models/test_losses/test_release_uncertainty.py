"""``uncertainty='release'`` against the authors' arithmetic, per base loss.

Each reference below re-expresses, by hand, what the release's loss file
computes on one level with one Avatar (``mmrazor/models/losses/akd_cwd.py``,
``akd_mgd.py`` and ``akd_maskd.py`` of github.com/Gumpest/AvatarKD), with
``nn.BatchNorm2d(affine=False)`` in training mode written as
:func:`batch_norm`. The Avatar is fixed (a given dropout mask), so loss and
student gradient are compared exactly.
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmrazor.models.losses import ChannelWiseDivergence
from mmrazor.registry import MODELS
from test_models.test_distillers.test_avatar_distiller import Setup
from torch import nn

import mmakd  # noqa: F401
from mmakd.models.losses.base_losses import release_form


def batch_norm(x: torch.Tensor) -> torch.Tensor:
    """``nn.BatchNorm2d(C, affine=False)`` in training mode."""
    return F.batch_norm(x, None, None, training=True, eps=1e-5)


def release_cwd(y_s: torch.Tensor, multi_t: torch.Tensor, tau: float,
                loss_weight: float) -> torch.Tensor:
    """``AKD_ChannelWiseDivergence.forward`` on one level: the student is
    standardised, the dropout Avatar ``multi_T`` is used raw."""
    n, c, h, w = y_s.shape
    s = batch_norm(y_s)
    soft_t = F.softmax(multi_t.reshape(-1, w * h) / tau, dim=1)
    cost = torch.sum(
        soft_t * F.log_softmax(multi_t.reshape(-1, w * h) / tau, dim=1) -
        soft_t * F.log_softmax(s.reshape(-1, w * h) / tau, dim=1)) * tau**2
    return cost / (c * n) * loss_weight


def release_mgd(feature: torch.Tensor, avatar: torch.Tensor,
                generation: nn.Module, keep: torch.Tensor,
                alpha: float) -> torch.Tensor:
    """``AKD_MGDLoss.forward`` on one level: the (aligned) student is
    standardised, then masked and generated; the Avatar standardised."""
    new_fea = generation(batch_norm(feature) * keep)
    return F.mse_loss(new_fea, batch_norm(avatar),
                      reduction='sum') / feature.shape[0] * alpha


def release_symmetric_l2(y_s: torch.Tensor,
                         avatar: torch.Tensor) -> torch.Tensor:
    """``AKD_MasKDLoss``'s order (both standardised) for MMRazor's L2Loss
    (``normalize=False``: a squared error summed, divided by the batch)."""
    s, t = batch_norm(y_s), batch_norm(avatar)
    return (s - t).pow(2).sum() / s.shape[0]


@pytest.fixture
def fixed():
    """A student, a teacher and one fixed dropout Avatar (p = 0.1)."""
    torch.manual_seed(0)
    student = (torch.randn(4, 6, 5, 5) * 3 + 1).requires_grad_()
    teacher = torch.randn(4, 6, 5, 5) * 2 - 0.5
    keep = (torch.rand(1, 4, 6, 5, 5) > 0.1).float()
    avatars = teacher * keep / 0.9
    return student, teacher, avatars


def wrapped(base: dict, uncertainty: str = 'release'):
    return MODELS.build(
        dict(type='UncertaintyAwareKDLoss', base_loss=base,
             uncertainty=uncertainty))


def loss_and_grad(loss_fn, student):
    loss = loss_fn()
    (grad, ) = torch.autograd.grad(loss, student)
    return loss.detach(), grad


def test_release_forms_per_base_loss():

    class MyCWD(ChannelWiseDivergence):
        pass

    assert release_form(MyCWD()) == 'student'
    assert release_form(MODELS.build(dict(type='MGDLoss'))) == \
        'before_generation'
    for other in ('L2Loss', 'PKDLoss', 'KLDivergence'):
        assert release_form(MODELS.build(dict(type=other))) == 'both'


def test_cwd_standardises_the_student_only(fixed):
    student, teacher, avatars = fixed
    cfg = dict(type='ChannelWiseDivergence', tau=2.0, loss_weight=3.0)
    loss = wrapped(cfg)
    got = loss_and_grad(
        lambda: loss.forward_avatars(
            dict(preds_S=student, preds_T=teacher), avatars)[0], student)
    ref = loss_and_grad(
        lambda: release_cwd(student, avatars[0], 2.0, 3.0), student)
    torch.testing.assert_close(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])
    # The symmetric form ('official') is another loss on the same inputs.
    official = wrapped(cfg, 'official').forward_avatars(
        dict(preds_S=student, preds_T=teacher), avatars)[0]
    assert not torch.allclose(official.detach(), ref[0], rtol=1e-2)


def test_other_losses_standardise_both(fixed):
    student, teacher, avatars = fixed
    loss = wrapped(dict(type='L2Loss', normalize=False))
    got = loss_and_grad(
        lambda: loss.forward_avatars(
            dict(s_feature=student, t_feature=teacher), avatars)[0],
        student)
    ref = loss_and_grad(lambda: release_symmetric_l2(student, avatars[0]),
                        student)
    torch.testing.assert_close(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])


def test_several_avatars_average_the_release_loss(fixed):
    student, teacher, _ = fixed
    keep = (torch.rand(3, *teacher.shape) > 0.1).float()
    avatars = teacher * keep / 0.9
    cfg = dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=1.0)
    got = wrapped(cfg).forward_avatars(
        dict(preds_S=student, preds_T=teacher), avatars)[0]
    ref = sum(release_cwd(student, a, 1.0, 1.0) for a in avatars) / 3
    torch.testing.assert_close(got, ref)


# ------------------------------------------------- MGD: before generation

ALPHA, LAMBDA = 2e-5, 0.65


def mgd_setup(source: str, student_channels: int, teacher_channels: int,
              uncertainty: str = 'release') -> Setup:
    """AvatarDistiller with one MGD loss; the student through an
    MGDConnector (``align`` conv when the channels differ)."""
    record = dict(type='ModuleOutputs', source=source)
    return Setup(
        uncertainty=uncertainty,
        student_recorders=dict(feat=record),
        teacher_recorders=dict(feat=record),
        connectors=dict(
            s_mgd=dict(type='MGDConnector', student_channels=student_channels,
                       teacher_channels=teacher_channels,
                       lambda_mgd=LAMBDA)),
        distill_losses=dict(loss_mgd=dict(type='MGDLoss', alpha_mgd=ALPHA)),
        loss_forward_mappings=dict(
            loss_mgd=dict(
                preds_S=dict(recorder='feat', from_student=True,
                             connector='s_mgd'),
                preds_T=dict(recorder='feat', from_student=False))))


def mgd_reference(setup: Setup, seed: int):
    """The release's MGD + AKD on the distiller's records and parameters,
    with the connector's mask and the Avatar drawn in the distiller's
    order (connector first, then the Avatar)."""
    distiller = setup.distiller
    feature = distiller.student_recorders.get_recorder(
        'feat').get_record_data()
    teacher = setup.teacher_record()
    connector = distiller.connectors['s_mgd']
    torch.manual_seed(seed)
    n, _, h, w = teacher.shape
    keep = (torch.rand(n, 1, h, w) <= 1 - LAMBDA).float()
    # A fresh copy of the stream draws what the distiller drew at its step.
    generator = copy.deepcopy(distiller.avatar_generator)
    avatar = generator(
        teacher, step=distiller.avatar_generator.random.last_step)[0]
    aligned = feature if connector.align is None else connector.align(
        feature)
    return feature, release_mgd(aligned, avatar, connector.generation, keep,
                                ALPHA)


@pytest.mark.parametrize('source,channels', [('head', (8, 8)),
                                             ('stem', (4, 16))],
                         ids=['no_align', 'align'])
def test_mgd_standardises_the_student_before_generation(source, channels):
    setup = mgd_setup(source, *channels)
    assert setup.distiller.distill_losses[
        'loss_mgd'].student_standardised_upstream
    torch.manual_seed(7)
    loss = setup.losses()['loss_mgd']
    feature, ref = mgd_reference(setup, seed=7)
    (grad, ) = torch.autograd.grad(loss, feature, retain_graph=True)
    (ref_grad, ) = torch.autograd.grad(ref, feature)
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(grad, ref_grad)

    # 'official' standardises after generation: another loss and gradient.
    official = mgd_setup(source, *channels, uncertainty='official')
    torch.manual_seed(7)
    other = official.losses()['loss_mgd']
    assert not torch.allclose(other, ref, rtol=1e-2)
