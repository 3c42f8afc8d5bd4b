# MasKD on the 5 FPN levels: FCOS R101 -> FCOS R50 (caffe, GN head,
# multi-scale 640-800), 2x, COCO.
#
# The official recipe (hunto/MasKD,
# mmrazor/configs/distill/maskd/fcos_r101-fcos_r50_coco.py):
# - MasKD on each neck output through the teacher's frozen tokens (the
#   official token file), the student through its own 1x1 conv; loss weight
#   10 per level, the student's masks from iteration 5,000; no head term;
# - the student's head with the changes "following previous KD methods" of
#   the official config: center sampling, boxes normalised by the stride,
#   conv bias, GIoU loss (centerness stays on the classification branch),
#   NMS at IoU 0.6 in testing; the student starts from ImageNet weights;
# - SGD lr 0.01 (biases 2x, no decay), gradient clipping at norm 35, 500
#   iterations of linear warm-up from 1/3, 2x schedule, 8 GPUs x 2 images.
_base_ = [
    'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_ms-640-800-2x_coco.py',
    '../_base_/distillers/maskd_fpn.py'
]

# mmdet model zoo `fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco`, box AP
# 40.8.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/fcos/fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco/fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco-511424d6.pth'  # noqa: E501

student = _base_.model
student.bbox_head.update(
    norm_on_bbox=True,
    centerness_on_reg=False,
    dcn_on_last_conv=False,
    center_sampling=True,
    conv_bias=True,
    loss_bbox=dict(type='GIoULoss', loss_weight=1.0))
student.test_cfg.nms = dict(type='nms', iou_threshold=0.6)

model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='MMAKDFpnTeacherDistill',
    architecture=student,
    teacher=dict(
        cfg_path='mmdet::fcos/fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=_base_.maskd_fpn_distillers['fcos-r101'])

val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

# The student config's 2x schedule (mmdet's FCOS 2x) with the official
# linear warm-up in place of its constant one.
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0,
        end=500), _base_.param_scheduler[1]
]
