"""FGDLoss: masks, the loss against a from-the-formulas reference, gradients,
and one training step of MMRazor's RetinaNet recipe distilled with FGD."""
import copy
import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmrazor.registry import MODELS

import mmakd  # noqa: F401  (before mmrazor.models)
from mmakd.models.losses import FGDLoss
from mmakd.models.losses.fgd_loss import fgd_masks
from mmakd.utils import disable_downloads, load_config, resolve_cfg_paths

RETINA_CWD = \
    'mmrazor::distill/mmdet/cwd/cwd_fpn_retina_r101_retina_r50_1x_coco.py'


def det_sample(boxes,
               img_shape,
               batch_input_shape=None,
               pad_shape=None,
               box_type=False):
    """A DetDataSample as the student's ``loss`` receives it."""
    sample = DetDataSample()
    meta = dict(img_shape=img_shape)
    if batch_input_shape is not None:
        meta['batch_input_shape'] = batch_input_shape
    if pad_shape is not None:
        meta['pad_shape'] = pad_shape
    sample.set_metainfo(meta)
    bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(bboxes) if box_type else bboxes,
        labels=torch.zeros(len(bboxes), dtype=torch.long))
    return sample


# ---------------------------------------------------------------- reference


def reference_masks(boxes_per_image, input_shape, feat_size):
    """The scale masks cell by cell: the release's rule, rows then columns."""
    height, width = feat_size
    fg = torch.zeros(len(boxes_per_image), height, width, dtype=torch.float64)
    for i, boxes in enumerate(boxes_per_image):
        for x1, y1, x2, y2 in boxes:
            c1 = math.floor(x1 * width / input_shape[1])
            c2 = math.ceil(x2 * width / input_shape[1])
            r1 = math.floor(y1 * height / input_shape[0])
            r2 = math.ceil(y2 * height / input_shape[0])
            value = 1.0 / ((r2 + 1 - r1) * (c2 + 1 - c1))
            for r in range(max(r1, 0), min(r2, height - 1) + 1):
                for c in range(max(c1, 0), min(c2, width - 1) + 1):
                    fg[i, r, c] = max(fg[i, r, c].item(), value)
    bg = (fg == 0).double()
    for i in range(len(bg)):
        if bg[i].sum() > 0:
            bg[i] /= bg[i].sum()
    return fg, bg


def reference_fgd(loss, preds_S, preds_T, fg, bg):
    """FGD from the paper's formulas in plain torch, the release's layout.

    Uses only ``loss``'s parameters and hyper-parameters, none of its code.
    """
    p = dict(loss.named_parameters())
    if 'align.weight' in p:
        preds_S = F.conv2d(preds_S, p['align.weight'], p['align.bias'])
    n, c, h, w = preds_S.shape
    temp = loss.temp

    def attention(x):
        a = x.abs()
        spatial = h * w * torch.softmax(
            a.mean(1).reshape(n, h * w) / temp, dim=1).reshape(n, h, w)
        channel = c * torch.softmax(a.mean(3).mean(2) / temp, dim=1)
        return spatial, channel

    s_t, c_t = attention(preds_T)
    s_s, c_s = attention(preds_S)
    scale = torch.sqrt(s_t)[:, None] * torch.sqrt(c_t)[:, :, None, None]
    fea_s, fea_t = preds_S * scale, preds_T * scale
    fg_loss = (
        (fea_s * fg[:, None].sqrt() - fea_t * fg[:, None].sqrt())**2).sum() / n
    bg_loss = (
        (fea_s * bg[:, None].sqrt() - bg[:, None].sqrt() * fea_t)**2).sum() / n
    at_loss = (c_s - c_t).abs().sum() / n + (s_s - s_t).abs().sum() / n

    def relation(x, side):
        logits = F.conv2d(x, p[f'conv_mask_{side}.weight'],
                          p[f'conv_mask_{side}.bias'])
        weights = torch.softmax(logits.reshape(n, h * w), dim=1)
        context = torch.einsum('ncp,np->nc', x.reshape(n, c, h * w), weights)
        y = F.conv2d(context[..., None,
                             None], p[f'channel_add_conv_{side}.0.weight'],
                     p[f'channel_add_conv_{side}.0.bias'])
        y = F.layer_norm(y, [c // 2, 1, 1],
                         p[f'channel_add_conv_{side}.1.weight'],
                         p[f'channel_add_conv_{side}.1.bias'])
        y = F.conv2d(
            F.relu(y), p[f'channel_add_conv_{side}.3.weight'],
            p[f'channel_add_conv_{side}.3.bias'])
        return x + y

    rela_loss = (
        (relation(preds_S, 's') - relation(preds_T, 't'))**2).sum() / n
    total = (
        loss.alpha_fgd * fg_loss + loss.beta_fgd * bg_loss +
        loss.gamma_fgd * at_loss + loss.lambda_fgd * rela_loss)
    return loss.loss_weight * total


def randomise(loss):
    """Non-zero everywhere, so every term and parameter matters."""
    torch.manual_seed(1)
    with torch.no_grad():
        for param in loss.parameters():
            param.copy_(torch.randn_like(param) * 0.5)
    return loss


# A batch of two images of different sizes, padded to one 40x56 input; the
# second image has no boxes. Feature maps of stride 8: 5x7.
BATCH_INPUT = (40, 56)
BOXES = [[[3.0, 5.0, 30.0, 17.0], [20.0, 9.5, 41.0, 38.0]], []]


def batch_samples(box_type=False):
    return [
        det_sample(BOXES[0], (40, 50), BATCH_INPUT, box_type=box_type),
        det_sample(BOXES[1], (33, 56), BATCH_INPUT, box_type=box_type),
    ]


# -------------------------------------------------------------------- masks


def test_masks_hand_made_case():
    # 8x8 feature map of a 32x32 image: stride 4.
    a = [4.0, 4.0, 12.0, 8.0]  # cells: rows 1-2, cols 1-3 -> 1/6
    b = [10.0, 6.0, 19.0, 17.0]  # rows 1-5 (1.5->1, 4.25->5), cols 2-5 -> 1/20
    fg, bg = fgd_masks([det_sample([a, b], (32, 32), (32, 32))], (8, 8))
    expected = torch.zeros(8, 8)
    expected[1:6, 2:6] = 1 / 20
    expected[1:3, 1:4] = 1 / 6  # the overlap keeps the larger value
    assert fg.shape == bg.shape == (1, 8, 8)
    torch.testing.assert_close(fg[0], expected, rtol=0, atol=1e-7)
    # 6 + 20 cells, 4 shared: 22 foreground, 42 background cells.
    assert (fg[0] > 0).sum() == 22
    torch.testing.assert_close(bg[0], (expected == 0).float() / 42)
    torch.testing.assert_close(bg.sum(), torch.tensor(1.0))
    # Rows are y, columns are x: a wide box gives a wide mask.
    fg_wide, _ = fgd_masks([det_sample([a], (32, 32), (32, 32))], (8, 8))
    assert fg_wide[0].nonzero()[:, 1].unique().numel() == 3  # 3 columns
    assert fg_wide[0].nonzero()[:, 0].unique().numel() == 2  # 2 rows


def test_masks_scale_to_the_padded_batch_input():
    """Boxes are placed by batch_input_shape, not by each img_shape."""
    fg, bg = fgd_masks(batch_samples(), (5, 7))
    ref_fg, ref_bg = reference_masks(BOXES, BATCH_INPUT, (5, 7))
    torch.testing.assert_close(fg.double(), ref_fg)
    torch.testing.assert_close(bg.double(), ref_bg)
    # Scaling by img_shape (40x50) would move the first box: not what we do.
    wrong, _ = reference_masks(BOXES[:1], (40, 50), (5, 7))
    assert not torch.equal(fg[:1].double(), wrong)
    # Without batch_input_shape, pad_shape, then img_shape, stand in.
    padded = [det_sample(BOXES[0], (40, 50), pad_shape=BATCH_INPUT)]
    torch.testing.assert_close(fgd_masks(padded, (5, 7))[0], fg[:1])


def test_masks_without_boxes_and_covered_everywhere():
    fg, bg = fgd_masks([det_sample([], (32, 32), (32, 32))], (4, 4))
    assert fg.abs().sum() == 0
    torch.testing.assert_close(bg, torch.full((1, 4, 4), 1 / 16))
    fg, bg = fgd_masks([det_sample([[0, 0, 32, 32]], (32, 32), (32, 32))],
                       (4, 4))
    assert (fg > 0).all() and bg.abs().sum() == 0  # no background term
    # The release's extent: cells 0..ceil(x2)=4 inclusive, so 1 / (5 * 5).
    torch.testing.assert_close(fg, torch.full((1, 4, 4), 1 / 25))


def test_masks_accept_mmdet_box_types():
    fg, bg = fgd_masks(batch_samples(box_type=True), (5, 7))
    fg_t, bg_t = fgd_masks(batch_samples(), (5, 7))
    assert torch.equal(fg, fg_t) and torch.equal(bg, bg_t)


# --------------------------------------------------------------------- loss


def features(student_channels=6, teacher_channels=6, seed=0):
    torch.manual_seed(seed)
    preds_S = torch.randn(
        2, student_channels, 5, 7, dtype=torch.float64, requires_grad=True)
    preds_T = torch.randn(2, teacher_channels, 5, 7, dtype=torch.float64)
    return preds_S, preds_T


@pytest.mark.parametrize('channels', [(6, 6), (4, 6)])
def test_loss_matches_reference(channels):
    s_ch, t_ch = channels
    loss = randomise(
        FGDLoss(
            student_channels=s_ch,
            teacher_channels=t_ch,
            temp=0.7,
            alpha_fgd=0.3,
            beta_fgd=0.2,
            gamma_fgd=0.05,
            lambda_fgd=0.01,
            loss_weight=1.5)).double()
    assert (loss.align is not None) == (s_ch != t_ch)
    preds_S, preds_T = features(s_ch, t_ch)
    fg, bg = reference_masks(BOXES, BATCH_INPUT, (5, 7))
    expected = reference_fgd(loss, preds_S, preds_T, fg, bg)
    actual = loss(preds_S, preds_T, batch_samples())
    assert actual.dim() == 0
    torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-10)
    # Each term on its own, so a wrong term cannot hide behind another.
    for term in ('alpha_fgd', 'beta_fgd', 'gamma_fgd', 'lambda_fgd'):
        single = copy.deepcopy(loss)
        for other in ('alpha_fgd', 'beta_fgd', 'gamma_fgd', 'lambda_fgd'):
            if other != term:
                setattr(single, other, 0.0)
        got = single(preds_S, preds_T, batch_samples())
        assert got > 0, term
        torch.testing.assert_close(
            got,
            reference_fgd(single, preds_S, preds_T, fg, bg),
            rtol=1e-6,
            atol=1e-10)


def test_default_weights_are_the_release_defaults():
    loss = MODELS.build(dict(type='MMAKDFGDLoss', in_channels=8))
    assert isinstance(loss, FGDLoss) and loss.align is None
    assert (loss.temp, loss.alpha_fgd, loss.beta_fgd, loss.gamma_fgd,
            loss.lambda_fgd, loss.loss_weight) == (0.5, 0.001, 0.0005, 0.001,
                                                   0.000005, 1.0)
    # The release's init: GcBlock output conv zero, so R(F) = F at start.
    for side in 's', 't':
        last = getattr(loss, f'channel_add_conv_{side}')[-1]
        assert last.weight.abs().sum() == 0 and last.bias.abs().sum() == 0
        assert getattr(loss, f'conv_mask_{side}').weight.abs().sum() > 0
        assert getattr(loss, f'conv_mask_{side}').bias.abs().sum() == 0
    aligned = MODELS.build(
        dict(type='MMAKDFGDLoss', student_channels=4, teacher_channels=8))
    assert aligned.align.in_channels == 4 and aligned.align.out_channels == 8
    with pytest.raises(ValueError, match='`in_channels`=4 and '
                       '`student_channels`=8 differ'):
        FGDLoss(in_channels=4, student_channels=8)
    with pytest.raises(ValueError, match='give `in_channels`'):
        FGDLoss()


def test_gradients_reach_the_student_and_the_loss_only():
    loss = FGDLoss(student_channels=4, teacher_channels=6)
    preds_S, preds_T = features(4, 6)
    preds_S, preds_T = preds_S.float().detach(), preds_T.float()
    preds_S.requires_grad_(True)
    preds_T.requires_grad_(True)  # a teacher tensor still in a graph
    loss(preds_S, preds_T, batch_samples()).backward()
    assert preds_T.grad is None
    assert preds_S.grad is not None and preds_S.grad.abs().sum() > 0
    grads = {k: v.grad for k, v in loss.named_parameters()}
    assert all(g is not None for g in grads.values())
    for key in ('align.weight', 'channel_add_conv_s.3.weight',
                'channel_add_conv_t.3.weight'):
        assert grads[key].abs().sum() > 0, key


def test_images_without_boxes_are_all_background():
    loss = FGDLoss(in_channels=6, beta_fgd=0.0, gamma_fgd=0.0, lambda_fgd=0.0)
    preds_S, preds_T = features()
    loss = loss.double()
    empty = [det_sample([], (40, 56), BATCH_INPUT) for _ in range(2)]
    assert loss(preds_S, preds_T, empty) == 0  # no foreground term
    both = FGDLoss(in_channels=6).double()
    value = both(preds_S, preds_T, empty)
    assert torch.isfinite(value) and value > 0
    value.backward()
    assert torch.isfinite(preds_S.grad).all()


def test_loss_weight_scales_linearly():
    preds_S, preds_T = features()
    base = randomise(FGDLoss(in_channels=6)).double()
    scaled = copy.deepcopy(base)
    scaled.loss_weight = 2.5
    torch.testing.assert_close(
        scaled(preds_S, preds_T, batch_samples()),
        2.5 * base(preds_S, preds_T, batch_samples()))


def test_rejects_mismatched_inputs():
    loss = FGDLoss(in_channels=6).double()
    preds_S, preds_T = features()
    with pytest.raises(ValueError, match=r'differ in batch or size: '
                       r'\(2, 6, 5, 7\) vs \(2, 6, 4, 7\)'):
        loss(preds_S, preds_T[:, :, :4], batch_samples())
    with pytest.raises(ValueError, match='1 data samples for a batch of 2'):
        loss(preds_S, preds_T, batch_samples()[:1])
    with pytest.raises(ValueError, match='built for 6 teacher channels'):
        loss(preds_S[:, :4], preds_T[:, :4], batch_samples())


# ---------------------------------------------------- UncertaintyAwareKDLoss


def wrapped_fgd(uncertainty, p=0.1):
    return MODELS.build(
        dict(
            type='UncertaintyAwareKDLoss',
            base_loss=dict(type='MMAKDFGDLoss', in_channels=6),
            uncertainty=uncertainty,
            avatar_generator=dict(
                type='AvatarGenerator',
                num_avatars=2,
                perturbation=dict(type='ElementDropout', p=p))))


@pytest.mark.parametrize('uncertainty', ['paper', 'official', 'none'])
def test_wrapped_by_uncertainty_aware_kd_loss(uncertainty):
    wrapped = wrapped_fgd(uncertainty)
    assert 'data_samples' in inspect.signature(wrapped.forward).parameters
    preds_S, preds_T = features()
    preds_S = preds_S.float().detach().requires_grad_(True)
    value = wrapped(
        preds_S=preds_S, preds_T=preds_T.float(), data_samples=batch_samples())
    assert torch.isfinite(value)
    value.backward()
    assert preds_S.grad.abs().sum() > 0
    assert wrapped.base_loss.channel_add_conv_s[-1].weight.grad is not None


def test_wrapped_passes_ground_truth_through_unchanged():
    """No perturbation and no uncertainty: exactly the plain FGD loss."""
    wrapped = wrapped_fgd('none', p=0.0)
    randomise(wrapped.base_loss)
    preds_S, preds_T = (x.float() for x in features())
    expected = wrapped.base_loss(preds_S, preds_T, batch_samples())
    torch.testing.assert_close(
        wrapped(preds_S, preds_T, data_samples=batch_samples()), expected)
    # The ground truth matters: other boxes, another value.
    moved = [det_sample([[0, 0, 8, 8]], (40, 56), BATCH_INPUT)] * 2
    assert not torch.allclose(wrapped(preds_S, preds_T, moved), expected)


# ------------------------------------------------ FpnTeacherDistill, RetinaNet

LOSS_METHOD = 'mmdet.models.detectors.SingleStageDetector.loss'
FORWARD_METHOD = 'mmdet.models.detectors.BaseDetector.forward'


def fgd_retina_recipe(gt_source=LOSS_METHOD, wrap=None):
    """MMRazor's RetinaNet CWD recipe with FGD on each FPN level."""
    cfg = load_config(RETINA_CWD)
    distiller = cfg.model.distiller
    # The student's ground truth: 2nd input of its loss(batch_inputs,
    # batch_data_samples) (or of forward(inputs, data_samples, mode)).
    distiller.student_recorders.gt = dict(
        type='MethodInputs', source=gt_source)
    losses, mappings = {}, {}
    for i in range(5):
        loss = dict(type='MMAKDFGDLoss', in_channels=256)
        if wrap is not None:
            loss = dict(
                type='UncertaintyAwareKDLoss',
                base_loss=loss,
                uncertainty=wrap)
        losses[f'loss_fgd_fpn{i}'] = loss
        mappings[f'loss_fgd_fpn{i}'] = dict(
            preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
            preds_T=dict(from_student=False, recorder='fpn', data_idx=i),
            data_samples=dict(from_student=True, recorder='gt', data_idx=1))
    distiller.distill_losses = losses
    distiller.loss_forward_mappings = mappings
    return cfg


def retina_batch():
    """Three images of different sizes; the second has no boxes."""
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(
        3, [[3, 64, 96], [3, 48, 80], [3, 40, 70]],
        num_items=[3, 0, 2],
        num_classes=80)


def one_training_step(cfg):
    init_default_scope('mmrazor')
    torch.manual_seed(0)
    model = MODELS.build(disable_downloads(resolve_cfg_paths(cfg.model)))
    model.train()
    data = model.data_preprocessor(copy.deepcopy(retina_batch()), True)
    assert len({tuple(s.img_shape) for s in data['data_samples']}) == 3
    loss, log_vars = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    return model, log_vars


def check_step(model, log_vars):
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())
    for i in range(5):
        assert log_vars[f'distill.loss_fgd_fpn{i}'] > 0
    # The recorder saw the student's data samples, boxes and all.
    samples = model.distiller.student_recorders.get_recorder(
        'gt').get_record_data(data_idx=1)
    assert [len(s.gt_instances) for s in samples] == [3, 0, 2]
    assert all(p.grad is None for p in model.teacher.parameters())
    neck = [p.grad for p in model.student.neck.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in neck)
    assert any(g.abs().sum() > 0 for g in neck)
    for loss in model.distiller.distill_losses.values():
        fgd = getattr(loss, 'base_loss', loss)
        assert isinstance(fgd, FGDLoss)
        assert all(p.grad is not None for p in fgd.parameters())
        assert fgd.channel_add_conv_s[-1].weight.grad.abs().sum() > 0


def test_fpn_teacher_distill_retinanet_with_fgd():
    model, log_vars = one_training_step(fgd_retina_recipe())
    assert type(model.distiller).__name__ == 'ConfigurableDistiller'
    check_step(model, log_vars)


@pytest.mark.slow
def test_fpn_teacher_distill_generic_recorder_and_wrapped_fgd():
    """BaseDetector.forward as the source (any mmdet detector), and each
    level's FGD wrapped by UncertaintyAwareKDLoss."""
    model, log_vars = one_training_step(
        fgd_retina_recipe(FORWARD_METHOD, wrap='official'))
    check_step(model, log_vars)


_FOREIGN_FGD = '''
import mmakd_compat
mmakd_compat.import_mmrazor()
from mmrazor.registry import MODELS


@MODELS.register_module()
class FGDLoss:
    """Stands for the FGDLoss that a newer MMRazor registers."""


import mmakd
from mmakd.models.losses import FGDLoss as OurFGDLoss

print(MODELS.get('FGDLoss') is FGDLoss,
      MODELS.get('MMAKDFGDLoss') is OurFGDLoss,
      type(MODELS.build(dict(type='MMAKDFGDLoss', in_channels=4))).__module__)
'''


def test_an_mmrazor_that_registers_fgd_loss_keeps_it():
    """``type='FGDLoss'`` stays MMRazor's; ``'MMAKDFGDLoss'`` is mmakd's."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, '-c', _FOREIGN_FGD],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1].split() == [
        'True', 'True', 'mmakd.models.losses.fgd_loss'
    ]


def test_fgd_loss_is_registered_under_mmakds_name():
    assert MODELS.get('MMAKDFGDLoss') is FGDLoss
    assert MODELS.module_dict.get('FGDLoss') is not FGDLoss
