# FGD on the 5 FPN levels: RetinaNet R101 -> RetinaNet R50, 2x, COCO.
#
# Focal and Global Knowledge Distillation (Yang et al., CVPR 2022) with the
# recipe of the authors' release (yzd-v/FGD, configs/distillers/fgd/
# fgd_retina_r101_fpn_2x_distill_retina_r50_fpn_2x_coco.py):
# - FGD on the output of each `neck.fpn_convs.<i>.conv` (P3-P7) with its
#   RetinaNet settings (temp, alpha, beta, gamma, lambda: `retinanet` of
#   ../_base_/distillers/fgd_fpn.py);
# - student neck and head initialised from the teacher (`init_student=True`:
#   every teacher weight outside the backbone), backbone from ImageNet;
# - SGD lr 0.01, momentum 0.9, weight decay 1e-4, gradient clipping at norm
#   35, the student config's 2x schedule, 8 GPUs x 2 images.
# The FGD README gives no number for this teacher.
#
# The FGD distiller (losses, recorders, the ground truth FGD's masks need),
# `custom_imports` and `find_unused_parameters` are in
# ../_base_/distillers/fgd_fpn.py, shared with the Faster R-CNN recipe.
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
    '../_base_/distillers/fgd_fpn.py'
]

# mmdet model zoo `retinanet_r101_fpn_2x_coco`, box AP 38.9 (the
# checkpoint of the FGD config).
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_2x_coco/retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth'  # noqa: E501


model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='MMAKDFpnTeacherDistill',
    architecture=_base_.model,
    # The student's neck and bbox_head start from the teacher's
    # weights (mmakd's `inherit`, logged when the Runner initialises).
    inherit=['neck', 'bbox_head'],
    teacher=dict(
        cfg_path='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=_base_.fgd_fpn_distillers.retinanet)

val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
