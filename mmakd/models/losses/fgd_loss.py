"""FGDLoss: Focal and Global Distillation for detectors, MMRazor 1.x style."""
from typing import Any, Optional, Sequence, Tuple

import mmrazor.models  # noqa: F401  (MMRazor's own losses registered first)
import torch
import torch.nn.functional as F
from mmengine.model import constant_init, kaiming_init
from mmrazor.registry import MODELS
from torch import nn

from ...utils.precision import upcast

#: mmakd's FGD in MMRazor's registry.
FGD_NAME = 'MMAKDFGDLoss'


class FGDLoss(nn.Module):
    """Focal and Global Knowledge Distillation for Detectors (FGD).

    Yang et al., "Focal and Global Knowledge Distillation for Detectors",
    CVPR 2022 (https://arxiv.org/abs/2111.11837). One instance distils one
    feature map (one FPN level) of shape ``(N, C, H, W)``:

    ``L = loss_weight * (alpha_fgd * L_fg + beta_fgd * L_bg
    + gamma_fgd * L_at + lambda_fgd * L_global)``

    - Focal, feature (paper Sec. 3.2, ``L_fea``): with the teacher's spatial
      attention ``A^S = H W softmax(mean_C |F^T| / T)`` and channel attention
      ``A^C = C softmax(mean_HW |F^T| / T)``,
      ``L_fg = sum M S A^S A^C (F^T - f(F^S))^2 / N`` over the foreground and
      ``L_bg`` the same over the background, where ``M`` is the box mask and
      ``S`` the scale mask: ``1 / (H_r W_r)`` inside a box of
      ``H_r x W_r`` cells (the largest value where boxes overlap), and
      ``1 / N_bg`` on each of the ``N_bg`` background cells.
    - Focal, attention (Sec. 3.2, ``L_at``): L1 between the student's and the
      teacher's spatial and channel attentions, summed, divided by ``N``.
    - Global (Sec. 3.3, ``L_global``): ``sum (R(F^T) - R(f(F^S)))^2 / N`` with
      the GcBlock ``R(F) = F + W_v2 ReLU(LN(W_v1 sum_j softmax(W_k F)_j F_j))``
      and separate blocks for student and teacher (``conv_mask_*`` is
      ``W_k``, ``channel_add_conv_*`` is ``W_v1 -> LN -> ReLU -> W_v2``).

    ``f`` is a 1x1 ``align`` conv when ``student_channels !=
    teacher_channels``, identity otherwise. The teacher is a target: its
    feature is detached, so no gradient reaches the teacher network (the
    teacher-side GcBlock, a parameter of this loss, still learns).

    Published settings (yzd-v/FGD configs, ``temp, alpha, beta, gamma,
    lambda``):

    - RetinaNet and GFL: ``0.5, 1e-3, 5e-4, 5e-4, 5e-6`` (the release's class
      defaults, kept here, have ``gamma_fgd=1e-3``);
    - Faster R-CNN, Mask R-CNN, Cascade Mask R-CNN teachers: ``0.5, 5e-5,
      2.5e-5, 5e-5, 5e-7`` (4 levels, P2-P5);
    - RepPoints: ``0.5, 1.6e-3, 8e-4, 8e-4, 8e-6``;
    - FCOS: ``0.8, 1.6e-3, 8e-4, 8e-4, 8e-6``.

    Ground truth comes as mmdet ``DetDataSample``s (``gt_instances.bboxes``
    in the coordinates of the resized image, and ``metainfo``). Where this
    departs from the release, it fixes the box placement:

    - boxes are scaled by ``feature size / batch_input_shape`` (the padded
      batch the feature map covers), not by ``img_shape``, so padding and
      images of different sizes in one batch put the boxes where they are;
    - boxes partly outside the map are clipped to it.

    The cell convention is the release's: a box covers rows
    ``floor(y1)..ceil(y2)`` and columns ``floor(x1)..ceil(x2)``, inclusive,
    and its value is ``1 / (rows * cols)`` over that extent.

    Note:
        Registered in MMRazor's ``MODELS`` as ``'MMAKDFGDLoss'``. MMRazor's
        main branch registers an ``FGDLoss`` of its own, with other
        arguments; ``type='MMAKDFGDLoss'`` builds whatever MMRazor registers.

    Args:
        in_channels (int, optional): Channels of the student feature. Same
            as ``student_channels``; give either.
        student_channels (int, optional): Channels of the student feature.
        teacher_channels (int, optional): Channels of the teacher feature.
            Defaults to the student's; a 1x1 conv aligns the student when
            they differ.
        temp (float): Temperature ``T`` of the attentions. Defaults to 0.5.
        alpha_fgd (float): ``alpha``, weight of the foreground feature loss.
            Defaults to 0.001.
        beta_fgd (float): ``beta``, weight of the background feature loss.
            Defaults to 0.0005.
        gamma_fgd (float): ``gamma``, weight of the attention loss.
            Defaults to 0.001.
        lambda_fgd (float): ``lambda``, weight of the global relation loss.
            Defaults to 0.000005.
        loss_weight (float): Multiplies the whole loss. Defaults to 1.0.
    """

    def __init__(self,
                 in_channels: Optional[int] = None,
                 student_channels: Optional[int] = None,
                 teacher_channels: Optional[int] = None,
                 temp: float = 0.5,
                 alpha_fgd: float = 0.001,
                 beta_fgd: float = 0.0005,
                 gamma_fgd: float = 0.001,
                 lambda_fgd: float = 0.000005,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        student_channels = _student_channels(in_channels, student_channels)
        teacher_channels = teacher_channels or student_channels
        if temp <= 0:
            raise ValueError(f'FGDLoss: `temp` must be > 0, but got {temp}')
        self.temp = temp
        self.alpha_fgd = alpha_fgd
        self.beta_fgd = beta_fgd
        self.gamma_fgd = gamma_fgd
        self.lambda_fgd = lambda_fgd
        self.loss_weight = loss_weight
        self.teacher_channels = teacher_channels

        self.align = None
        if student_channels != teacher_channels:
            self.align = nn.Conv2d(student_channels, teacher_channels, 1)
        self.conv_mask_s = nn.Conv2d(teacher_channels, 1, 1)
        self.conv_mask_t = nn.Conv2d(teacher_channels, 1, 1)
        self.channel_add_conv_s = _channel_add_conv(teacher_channels)
        self.channel_add_conv_t = _channel_add_conv(teacher_channels)
        self._init_weights()

    def _init_weights(self) -> None:
        """As the release: kaiming ``W_k``, zero last conv of ``W_v``.

        The zero conv makes ``R(F) = F`` at the start, so the global loss
        begins as a plain feature MSE.
        """
        kaiming_init(self.conv_mask_s, mode='fan_in')
        kaiming_init(self.conv_mask_t, mode='fan_in')
        constant_init(self.channel_add_conv_s[-1], val=0)
        constant_init(self.channel_add_conv_t[-1], val=0)

    def forward(self, preds_S: torch.Tensor, preds_T: torch.Tensor,
                data_samples: Sequence[Any]) -> torch.Tensor:
        """The FGD loss of one feature level.

        Args:
            preds_S (Tensor): Student feature, ``(N, C_s, H, W)``.
            preds_T (Tensor): Teacher feature, ``(N, C_t, H, W)``.
            data_samples (Sequence[DetDataSample]): The student's ground
                truth, one per image: ``gt_instances.bboxes`` (``(k, 4)``
                ``x1, y1, x2, y2``, tensor or mmdet boxes; ``k`` may be 0)
                and ``metainfo['batch_input_shape']`` (else ``pad_shape``,
                else ``img_shape``).

        Returns:
            Tensor: The loss, a scalar.
        """
        if preds_S.dim() != 4 or preds_T.dim() != 4:
            raise ValueError('FGDLoss: expected (N, C, H, W) features, got '
                             f'student {tuple(preds_S.shape)} and teacher '
                             f'{tuple(preds_T.shape)}')
        if (preds_S.shape[0] != preds_T.shape[0]
                or preds_S.shape[-2:] != preds_T.shape[-2:]):
            raise ValueError('FGDLoss: student and teacher features differ '
                             f'in batch or size: {tuple(preds_S.shape)} vs '
                             f'{tuple(preds_T.shape)}')
        if len(data_samples) != preds_S.shape[0]:
            raise ValueError(f'FGDLoss: {len(data_samples)} data samples for '
                             f'a batch of {preds_S.shape[0]} features')
        if self.align is not None:
            preds_S = self.align(preds_S)
        if preds_S.shape[1] != self.teacher_channels or \
                preds_T.shape[1] != self.teacher_channels:
            raise ValueError(
                f'FGDLoss: built for {self.teacher_channels} teacher '
                f'channels, got student {tuple(preds_S.shape)} (after '
                f'align) and teacher {tuple(preds_T.shape)}')
        preds_S = upcast(preds_S)
        preds_T = upcast(preds_T.detach())

        spatial_t, channel_t = _attention(preds_T, self.temp)
        spatial_s, channel_s = _attention(preds_S, self.temp)
        fg_mask, bg_mask = fgd_masks(data_samples, preds_T.shape[-2:],
                                     preds_T.device)
        fg_loss, bg_loss = _feature_loss(preds_S, preds_T, fg_mask, bg_mask,
                                         spatial_t, channel_t)
        at_loss = _attention_loss(spatial_s, spatial_t, channel_s, channel_t)
        global_loss = self._global_loss(preds_S, preds_T)
        loss = (
            self.alpha_fgd * fg_loss + self.beta_fgd * bg_loss +
            self.gamma_fgd * at_loss + self.lambda_fgd * global_loss)
        return self.loss_weight * loss

    def _global_loss(self, preds_S: torch.Tensor,
                     preds_T: torch.Tensor) -> torch.Tensor:
        """``L_global``: MSE (sum / N) between the GcBlock outputs."""
        out_s = _gc_block(preds_S, self.conv_mask_s, self.channel_add_conv_s)
        out_t = _gc_block(preds_T, self.conv_mask_t, self.channel_add_conv_t)
        return F.mse_loss(
            upcast(out_s), upcast(out_t), reduction='sum') / out_s.shape[0]

    def extra_repr(self) -> str:
        return (f'temp={self.temp}, alpha_fgd={self.alpha_fgd}, beta_fgd='
                f'{self.beta_fgd}, gamma_fgd={self.gamma_fgd}, lambda_fgd='
                f'{self.lambda_fgd}, loss_weight={self.loss_weight}')


def fgd_masks(
    data_samples: Sequence[Any],
    feat_size: Sequence[int],
    device: Optional[torch.device] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Foreground and background scale masks on a feature map.

    Args:
        data_samples (Sequence[DetDataSample]): One per image, with
            ``gt_instances.bboxes`` and ``metainfo`` (see
            :meth:`FGDLoss.forward`).
        feat_size (Sequence[int]): ``(H, W)`` of the feature map.
        device (torch.device, optional): Device of the masks.

    Returns:
        tuple[Tensor, Tensor]: ``(fg, bg)``, each ``(N, H, W)`` float32:
        ``fg`` is ``1 / (h * w)`` on the cells of an ``h x w`` box (the
        largest where boxes overlap), 0 elsewhere; ``bg`` is ``1 / N_bg`` on
        the ``N_bg`` cells outside every box (all 0 when there are none).
    """
    height, width = int(feat_size[0]), int(feat_size[1])
    fg = torch.zeros(len(data_samples), height, width, device=device)
    for i, sample in enumerate(data_samples):
        boxes = _gt_boxes(sample).to(device=device, dtype=torch.float32)
        if boxes.numel():
            in_h, in_w = _input_shape(sample)
            fg[i] = _box_scale_mask(boxes, (in_h, in_w), (height, width))
    bg = (fg == 0).float()
    # An image covered by boxes everywhere has no background term.
    bg = bg / bg.sum(dim=(1, 2), keepdim=True).clamp(min=1)
    return fg, bg


def _box_scale_mask(boxes: torch.Tensor, input_size: Tuple[int, int],
                    feat_size: Tuple[int, int]) -> torch.Tensor:
    """``1 / (h * w)`` on each box's cells, max over boxes, ``(H, W)``."""
    height, width = feat_size
    scale = boxes.new_tensor([
        width / input_size[1], height / input_size[0], width / input_size[1],
        height / input_size[0]
    ])
    scaled = boxes.reshape(-1, 4) * scale
    x1, y1 = scaled[:, 0].floor(), scaled[:, 1].floor()
    x2, y2 = scaled[:, 2].ceil(), scaled[:, 3].ceil()
    # The release's extent: inclusive ceil, so h = y2 + 1 - y1 cells.
    value = 1.0 / ((y2 + 1 - y1).clamp(min=1) * (x2 + 1 - x1).clamp(min=1))
    rows = torch.arange(height, device=boxes.device, dtype=boxes.dtype)
    cols = torch.arange(width, device=boxes.device, dtype=boxes.dtype)
    inside = ((rows[None, :, None] >= y1[:, None, None]) &
              (rows[None, :, None] <= y2[:, None, None]) &
              (cols[None, None, :] >= x1[:, None, None]) &
              (cols[None, None, :] <= x2[:, None, None]))
    return (inside * value[:, None, None]).amax(dim=0)


def _gt_boxes(sample: Any) -> torch.Tensor:
    """``gt_instances.bboxes`` as a ``(k, 4)`` tensor (mmdet boxes too)."""
    boxes = sample.gt_instances.bboxes
    boxes = getattr(boxes, 'tensor', boxes)  # mmdet BaseBoxes
    return torch.as_tensor(boxes).reshape(-1, 4)


def _input_shape(sample: Any) -> Tuple[int, int]:
    """``(H, W)`` of the input the feature map was computed from."""
    meta = sample.metainfo
    for key in ('batch_input_shape', 'pad_shape', 'img_shape'):
        if meta.get(key) is not None:
            return int(meta[key][0]), int(meta[key][1])
    raise KeyError('FGDLoss: a data sample has none of batch_input_shape, '
                   'pad_shape, img_shape in its metainfo')


def _attention(feat: torch.Tensor,
               temp: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Spatial ``(N, H, W)`` and channel ``(N, C)`` attentions ``A^S, A^C``."""
    n, c, h, w = feat.shape
    value = feat.abs()
    spatial = h * w * F.softmax(value.mean(dim=1).reshape(n, -1) / temp, 1)
    channel = c * F.softmax(value.mean(dim=(2, 3)) / temp, dim=1)
    return spatial.reshape(n, h, w), channel


def _feature_loss(
        preds_S: torch.Tensor, preds_T: torch.Tensor, fg_mask: torch.Tensor,
        bg_mask: torch.Tensor, spatial_t: torch.Tensor,
        channel_t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The two halves of ``L_fea``: foreground and background, ``sum / N``."""
    # The teacher's attentions weight both sides, as in the paper.
    weighted_sq = (preds_S - preds_T).pow(2) * \
        spatial_t[:, None] * channel_t[:, :, None, None]
    n = preds_S.shape[0]
    fg_loss = (weighted_sq * fg_mask[:, None]).sum() / n
    bg_loss = (weighted_sq * bg_mask[:, None]).sum() / n
    return fg_loss, bg_loss


def _attention_loss(spatial_s: torch.Tensor, spatial_t: torch.Tensor,
                    channel_s: torch.Tensor,
                    channel_t: torch.Tensor) -> torch.Tensor:
    """``L_at``: L1 of both attentions, each ``sum / N``."""
    n = spatial_s.shape[0]
    return (F.l1_loss(channel_s, channel_t, reduction='sum') +
            F.l1_loss(spatial_s, spatial_t, reduction='sum')) / n


def _gc_block(feat: torch.Tensor, conv_mask: nn.Module,
              channel_add: nn.Module) -> torch.Tensor:
    """``R(F)``: the feature plus its transformed global context."""
    n, c, h, w = feat.shape
    # Upcast features meet the block's own dtype (a half model, no autocast).
    feat = feat.to(conv_mask.weight.dtype)
    weights = F.softmax(conv_mask(feat).reshape(n, 1, h * w), dim=2)
    context = torch.bmm(feat.reshape(n, c, h * w), weights.transpose(1, 2))
    return feat + channel_add(context.reshape(n, c, 1, 1))


def _channel_add_conv(channels: int) -> nn.Sequential:
    """``W_v2 ReLU(LN(W_v1 .))``: 1x1 conv, LayerNorm, ReLU, 1x1 conv."""
    return nn.Sequential(
        nn.Conv2d(channels, channels // 2, 1),
        nn.LayerNorm([channels // 2, 1, 1]), nn.ReLU(inplace=True),
        nn.Conv2d(channels // 2, channels, 1))


def _student_channels(in_channels: Optional[int],
                      student_channels: Optional[int]) -> int:
    """``in_channels`` and ``student_channels`` are one argument."""
    if in_channels is None and student_channels is None:
        raise ValueError('FGDLoss: give `in_channels` (or `student_channels`)')
    if (in_channels is not None and student_channels is not None
            and in_channels != student_channels):
        raise ValueError(f'FGDLoss: `in_channels`={in_channels} and '
                         f'`student_channels`={student_channels} differ')
    return in_channels if in_channels is not None else student_channels


# mmakd's name: MMRazor's main branch registers an ``FGDLoss`` of its own,
# with other arguments, and ``type='MMAKDFGDLoss'`` must keep building that.
MODELS.register_module(name=FGD_NAME, module=FGDLoss)
