"""The distillation methods the generator writes, with published defaults.

Each method gives the loss config of one paired output and says where its
values come from; a student-side connector maps channels where they differ
(MGD's generation block is always one).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional

#: MMRazor's recipes, where the defaults below are published.
MMRAZOR = 'mmrazor::distill/'


@dataclass(frozen=True)
class Method:
    """One distillation method.

    Args:
        loss (callable): ``(where, two_stage) -> loss config`` without the
            loss weight.
        weight_key (str): The loss argument that ``--loss-weight`` sets.
        weight (callable): ``where -> the default of weight_key``.
        source (callable): ``(where, two_stage) -> where the values come
            from``, for the written config's comment.
        student_key (str): The loss's student argument.
        teacher_key (str): The loss's teacher argument.
        connector (str, optional): ``'mgd'`` for MGD's own connector on
            every pair; None for a 1x1 conv where channels differ.
        needs_boxes (bool): Whether the loss reads the ground truth
            (detectors only).
        aligns_itself (bool): Whether the loss maps channels itself.
    """
    loss: Callable[[str, bool], Dict]
    weight_key: str
    weight: Callable[[str], float]
    source: Callable[[str, bool], str]
    student_key: str = 'preds_S'
    teacher_key: str = 'preds_T'
    connector: Optional[str] = None
    needs_boxes: bool = False
    aligns_itself: bool = False


#: FGD's release settings (yzd-v/FGD), as configs/_base_/distillers/fgd_fpn.py.
FGD_SETTINGS = dict(
    one_stage=dict(
        alpha_fgd=0.001, beta_fgd=0.0005, gamma_fgd=0.0005,
        lambda_fgd=0.000005),
    two_stage=dict(
        alpha_fgd=0.00005, beta_fgd=0.000025, gamma_fgd=0.00005,
        lambda_fgd=0.0000005))

METHODS: Dict[str, Method] = dict(
    cwd=Method(
        loss=lambda where, two: dict(type='ChannelWiseDivergence', tau=1),
        weight_key='loss_weight',
        weight=lambda where: 5 if where == 'logits' else 10,
        source=lambda where, two: (
            f'tau=1, loss_weight=5: {MMRAZOR}mmseg/cwd/cwd_logits_pspnet_'
            'r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'
            if where == 'logits' else
            f'tau=1, loss_weight=10 per level: {MMRAZOR}mmdet/cwd/'
            'cwd_fpn_retina_r101_retina_r50_1x_coco.py' +
            ('' if where == 'neck' else
             ' (its FPN value; none is published for this place)'))),
    pkd=Method(
        loss=lambda where, two: dict(type='PKDLoss', resize_stu=True),
        weight_key='loss_weight',
        weight=lambda where: 6,
        source=lambda where, two: (
            f'loss_weight=6 per level: {MMRAZOR}mmdet/pkd/pkd_fpn_faster-'
            'rcnn_r101_faster-rcnn_r50_2x_coco.py' +
            ('' if where == 'neck' else
             ' (its FPN value; none is published for this place)'))),
    mgd=Method(
        loss=lambda where, two: dict(type='MGDLoss'),
        weight_key='alpha_mgd',
        weight=lambda where: 0.00002,
        source=lambda where, two: (
            f'alpha_mgd=2e-5, lambda_mgd=0.65: {MMRAZOR}mmdet/mgd/'
            'mgd_fpn_retina_x101_retina_r50_2x_coco.py'),
        connector='mgd'),
    fgd=Method(
        loss=lambda where, two: dict(
            type='MMAKDFGDLoss', temp=0.5,
            **FGD_SETTINGS['two_stage' if two else 'one_stage']),
        weight_key='loss_weight',
        weight=lambda where: 1.0,
        source=lambda where, two: (
            'temp=0.5, alpha/beta/gamma/lambda of the authors\' '
            f'{"Faster R-CNN" if two else "RetinaNet"} configs '
            '(yzd-v/FGD), as configs/_base_/distillers/fgd_fpn.py'),
        needs_boxes=True,
        aligns_itself=True),
    l2=Method(
        loss=lambda where, two: dict(type='L2Loss', normalize=True),
        weight_key='loss_weight',
        weight=lambda where: 1.0,
        source=lambda where, two: (
            "MMRazor's L2Loss defaults (normalize=True, loss_weight=1); "
            'no recipe publishes a value'),
        student_key='s_feature',
        teacher_key='t_feature'),
)
