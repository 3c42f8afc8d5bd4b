# MasKD on the 5 FPN levels: RetinaNet R101 -> RetinaNet R50, 2x, COCO.
#
# Masked Distillation with Receptive Tokens (Huang et al., ICLR 2023) with
# the official recipe (hunto/MasKD,
# mmrazor/configs/distill/maskd/retinanet_r101-retinanet_r50_coco.py):
# - MasKD on each neck output through the teacher's frozen tokens (the
#   official token file), the student through its own 1x1 conv; loss weight
#   7 per level, the student's masks from iteration 7,000;
# - L1 between the student's and the teacher's `bbox_head.retina_reg` per
#   level, weight 1;
# - student neck and head initialised from the teacher, backbone from
#   ImageNet;
# - SGD lr 0.02, momentum 0.9, weight decay 1e-4, gradient clipping at norm
#   35, 1,000 iterations of linear warm-up, the student config's 2x
#   schedule, 8 GPUs x 2 images.
# The distiller is in ../_base_/distillers/maskd_fpn.py.
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
    '../_base_/distillers/maskd_fpn.py'
]

# mmdet model zoo `retinanet_r101_fpn_2x_coco`, box AP 38.9.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_2x_coco/retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth'  # noqa: E501


model = dict(
    _scope_='mmrazor',
    _delete_=True,
    # The head terms need the teacher's head: its whole forward.
    type='MMAKDSingleTeacherDistill',
    architecture=_base_.model,
    # The student's neck and bbox_head start from the teacher's
    # weights (mmakd's `inherit`, logged when the Runner initialises).
    inherit=['neck', 'bbox_head'],
    teacher=dict(
        cfg_path='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=_base_.maskd_fpn_distillers['retina-r101'])

val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
# The student config's 2x schedule (mmdet's `schedule_2x`) with the
# official 1,000 iterations of warm-up.
param_scheduler = [
    dict(_base_.param_scheduler[0], end=1000), _base_.param_scheduler[1]
]
