# FGD on the 4 FPN levels P2-P5: Faster R-CNN R101 -> Faster R-CNN R50, 2x,
# COCO.
#
# Focal and Global Knowledge Distillation (Yang et al., CVPR 2022) with the
# recipe of the authors' release (yzd-v/FGD, configs/distillers/fgd/
# fgd_faster_rcnn_r101_fpn_2x_distill_faster_rcnn_r50_fpn_2x_coco.py):
# - FGD on the output of each `neck.fpn_convs.<i>.conv` (P2-P5; P6 is a max
#   pool and is not distilled) with its two-stage settings: temp 0.5,
#   alpha 5e-5, beta 2.5e-5, gamma 5e-5, lambda 5e-7;
# - student neck, RPN head and RoI head initialised from the teacher
#   (`init_student=True`: every teacher weight outside the backbone),
#   backbone from ImageNet;
# - SGD lr 0.02, momentum 0.9, weight decay 1e-4, gradient clipping at norm
#   35, 2x schedule (24 epochs, steps 16 and 22), 8 GPUs x 2 images.
# The FGD README gives no number for this teacher.
#
# The ground truth that FGD's masks need is the student's own: the
# `data_samples` argument of the student's forward, recorded by `gt`.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py'

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

# mmdet model zoo `faster-rcnn_r101_fpn_2x_coco`, box AP 39.8 (the
# checkpoint of the FGD config).
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r101_fpn_2x_coco/faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398_20200504_210455-1d2dac9c.pth'  # noqa: E501

student = _base_.model
student.neck.init_cfg = dict(
    type='Pretrained', prefix='neck.', checkpoint=teacher_ckpt)
student.rpn_head.init_cfg = dict(
    type='Pretrained', prefix='rpn_head.', checkpoint=teacher_ckpt)
student.roi_head.init_cfg = dict(
    type='Pretrained', prefix='roi_head.', checkpoint=teacher_ckpt)

fgd = dict(
    type='FGDLoss',
    in_channels=256,
    temp=0.5,
    alpha_fgd=0.00005,
    beta_fgd=0.000025,
    gamma_fgd=0.00005,
    lambda_fgd=0.0000005)

# One FGD loss per level: the student's and the teacher's output of
# `neck.fpn_convs.<i>.conv`, plus the batch's ground truth.
fpn_levels = [0, 1, 2, 3]
fpn_recorders = {
    f'fpn{i}': dict(type='ModuleOutputs', source=f'neck.fpn_convs.{i}.conv')
    for i in fpn_levels
}

model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='FpnTeacherDistill',
    architecture=student,
    teacher=dict(
        cfg_path='mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            **fpn_recorders,
            # forward(inputs, data_samples, mode): data_idx 1 is the ground
            # truth of the batch (any mmdet detector).
            gt=dict(
                type='MethodInputs',
                source='mmdet.models.detectors.BaseDetector.forward')),
        teacher_recorders=fpn_recorders,
        distill_losses={f'loss_fgd_fpn{i}': fgd
                        for i in fpn_levels},
        loss_forward_mappings={
            f'loss_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder=f'fpn{i}'),
                preds_T=dict(from_student=False, recorder=f'fpn{i}'),
                data_samples=dict(
                    from_student=True, recorder='gt', data_idx=1))
            for i in fpn_levels
        }))

find_unused_parameters = True

val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
