# FGD on the 4 FPN levels P2-P5: Faster R-CNN R101 -> Faster R-CNN R50, 2x,
# COCO.
#
# Focal and Global Knowledge Distillation (Yang et al., CVPR 2022) with the
# recipe of the authors' release (yzd-v/FGD, configs/distillers/fgd/
# fgd_faster_rcnn_r101_fpn_2x_distill_faster_rcnn_r50_fpn_2x_coco.py):
# - FGD on the output of each `neck.fpn_convs.<i>.conv` (P2-P5; P6 is a max
#   pool and is not distilled) with its two-stage settings (temp, alpha,
#   beta, gamma, lambda: `faster_rcnn` of ../_base_/distillers/fgd_fpn.py);
# - student neck, RPN head and RoI head initialised from the teacher
#   (`init_student=True`: every teacher weight outside the backbone),
#   backbone from ImageNet;
# - SGD lr 0.02, momentum 0.9, weight decay 1e-4, gradient clipping at norm
#   35, the student config's 2x schedule, 8 GPUs x 2 images.
# The FGD README gives no number for this teacher.
#
# The FGD distiller (losses, recorders, the ground truth FGD's masks need),
# `custom_imports` and `find_unused_parameters` are in
# ../_base_/distillers/fgd_fpn.py, shared with the RetinaNet recipes.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py',
    '../_base_/distillers/fgd_fpn.py'
]

# mmdet model zoo `faster-rcnn_r101_fpn_2x_coco`, box AP 39.8 (the
# checkpoint of the FGD config).
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r101_fpn_2x_coco/faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398_20200504_210455-1d2dac9c.pth'  # noqa: E501


model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='MMAKDFpnTeacherDistill',
    architecture=_base_.model,
    # The student's neck, rpn_head and roi_head start from the teacher's
    # weights (mmakd's `inherit`, logged when the Runner initialises).
    inherit=['neck', 'rpn_head', 'roi_head'],
    teacher=dict(
        cfg_path='mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=_base_.fgd_fpn_distillers.faster_rcnn)

val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
