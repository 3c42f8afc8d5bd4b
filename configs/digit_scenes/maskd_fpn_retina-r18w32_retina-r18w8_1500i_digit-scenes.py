# MasKD on the three FPN levels, RetinaNet R18-w32 (teacher) -> R18-w8
# (student), on Digit Scenes. The student's data and schedule are those of
# retinanet_r18-w8_fpn_1500i_digit-scenes.py, so this config differs from
# "no KD" by the distillation only.
#
# MasKD stage 2 as the official RetinaNet recipes (hunto/MasKD,
# mmrazor/configs/distill/maskd/retinanet_r101-retinanet_r50_coco.py):
# - the teacher's tokens from stage 1
#   (maskd-tokens_fpn_retina-r18w32_300i_digit-scenes.py), frozen; T = 6
#   with the probability head;
# - each student FPN output through its own trainable 1x1 conv;
# - loss weight 7 per level; the student's masks join after about one
#   epoch (100 iterations of 94 per epoch here; the official 7,000 of the
#   7,330 iterations of a COCO epoch at 16 images).
# The official recipe also distils `bbox_head.retina_reg` with L1; Digit
# Scenes' other distillations distil the FPN alone, and so does this one.
_base_ = './retinanet_r18-w8_fpn_1500i_digit-scenes.py'

# The teacher, retinanet_r18-w32_fpn_1500i_digit-scenes.py: the student with
# the widths it narrows restored (tests/test_configs checks they agree).
_teacher = {
    **_base_.model,
    'backbone': {**_base_.model.backbone, 'base_channels': 32},
    'neck': {**_base_.model.neck, 'in_channels': [32, 64, 128]},
    'bbox_head': {**_base_.model.bbox_head, 'stacked_convs': 4},
}
# Where tools/train.py writes the teacher and its tokens by default; pass
# others with --cfg-options model.teacher_ckpt=PATH and
# model.distiller.distill_losses.loss_maskd_fpn<i>.tokens_ckpt=PATH.
teacher_ckpt = 'work_dirs/retinanet_r18-w32_fpn_1500i_digit-scenes/iter_1500.pth'  # noqa: E501
tokens_ckpt = 'work_dirs/maskd-tokens_fpn_retina-r18w32_300i_digit-scenes/iter_300.pth'  # noqa: E501

_levels = range(3)
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='FpnTeacherDistill',
    architecture=dict(_scope_='mmdet', **_base_.model),
    teacher=dict(_scope_='mmdet', **_teacher),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        connectors={
            f'fpn{i}_s': dict(
                type='ConvModuleConnector',
                in_channel=64,
                out_channel=64,
                bias=True,
                norm_cfg=None,
                act_cfg=None)
            for i in _levels
        },
        distill_losses={
            f'loss_maskd_fpn{i}': dict(
                type='MasKDLoss',
                channels=64,
                level=i,
                num_tokens=6,
                weight_mask=True,
                custom_mask=True,
                custom_mask_warmup=100,
                tokens_ckpt=tokens_ckpt,
                loss_weight=7)
            for i in _levels
        },
        loss_forward_mappings={
            f'loss_maskd_fpn{i}': dict(
                preds_S=dict(
                    from_student=True,
                    recorder='fpn',
                    data_idx=i,
                    connector=f'fpn{i}_s'),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in _levels
        }))
del _teacher, _levels

find_unused_parameters = True
