# MGD on the 4 FPN levels P2-P5: Cascade Mask R-CNN X101-64x4d -> Faster R-CNN
# R50, 2x, COCO.
#
# Masked Generative Distillation (Yang et al., ECCV 2022) with the settings of
# the authors' Cascade Mask R-CNN -> Faster R-CNN config (yzd-v/MGD
# det/configs/distillers/mgd/
# cascade_mask_rcnn_rx101_32x4d_distill_faster_rcnn_r50_fpn_2x_coco.py):
# an MGDConnector (random mask ratio lambda_mgd 0.45, 3x3 generation block)
# on each student `neck.fpn_convs.<i>.conv` (P2-P5; P6 is a max pool),
# MGDLoss alpha_mgd 5e-7 against the teacher's same level; student from
# ImageNet weights (no inheritance: the heads differ); SGD lr 0.02, momentum
# 0.9, weight decay 1e-4, gradient clipping at norm 35, 2x schedule, 8 GPUs x
# 2 images. Published: 42.1 box AP (MGD README; student alone 38.4).
#
# Teacher: Cascade Mask R-CNN X101-64x4d 20e (box AP 45.6), the teacher named
# in the FGD, MGD and AKD result tables ("Cascade Mask RCNN-X101 (45.6)") and
# loaded by the AKD release. (MGD's and FGD's configs point to the
# X101-32x4d-DCN 1x checkpoint, box AP 47.3, instead.)
# The AKD release's own MGD recipe differs further: alpha 2e-5, lambda 0.65,
# all 5 neck outputs, a 1x1 conv on the student, and extra RoI-head losses.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py'

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

# mmdet model zoo `cascade-mask-rcnn_x101-64x4d_fpn_20e_coco`, box AP 45.6.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/cascade_rcnn/cascade_mask_rcnn_x101_64x4d_fpn_20e_coco/cascade_mask_rcnn_x101_64x4d_fpn_20e_coco_20200512_161033-bdb5126a.pth'  # noqa: E501

connector = dict(
    type='MGDConnector',
    student_channels=256,
    teacher_channels=256,
    lambda_mgd=0.45)
mgd = dict(type='MGDLoss', alpha_mgd=0.0000005)

# One MGD loss per level: a connector on the student's output of
# `neck.fpn_convs.<i>.conv` generates the teacher's.
fpn_levels = [0, 1, 2, 3]
fpn_recorders = {
    f'fpn{i}': dict(type='ModuleOutputs', source=f'neck.fpn_convs.{i}.conv')
    for i in fpn_levels
}

model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='MMAKDFpnTeacherDistill',
    architecture=_base_.model,
    teacher=dict(
        cfg_path='mmdet::cascade_rcnn/cascade-mask-rcnn_x101-64x4d_fpn_20e_coco.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=fpn_recorders,
        teacher_recorders=fpn_recorders,
        connectors={f's_fpn{i}_connector': connector
                    for i in fpn_levels},
        distill_losses={f'loss_mgd_fpn{i}': mgd
                        for i in fpn_levels},
        loss_forward_mappings={
            f'loss_mgd_fpn{i}': dict(
                preds_S=dict(
                    from_student=True,
                    recorder=f'fpn{i}',
                    connector=f's_fpn{i}_connector'),
                preds_T=dict(from_student=False, recorder=f'fpn{i}'))
            for i in fpn_levels
        }))

find_unused_parameters = True

val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

# SGD lr 0.02, momentum 0.9, weight decay 1e-4 from mmdet's schedule_2x.
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
