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
#   epoch: at iteration 100, with 94 iterations an epoch here (the official
#   7,000, with 7,330 iterations a COCO epoch at 16 images).
# The official recipe also distils `bbox_head.retina_reg` with L1; Digit
# Scenes' other distillations distil the FPN alone, and so does this one.
# Student, teacher and teacher_ckpt are the CWD recipe's beside this file;
# only the distiller differs.
_base_ = './cwd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py'

# Where tools/train.py writes the tokens by default; pass others with
# --cfg-options
#     model.distiller.distill_losses.loss_maskd_fpn<i>.tokens_ckpt=PATH
tokens_ckpt = 'work_dirs/maskd-tokens_fpn_retina-r18w32_300i_digit-scenes/iter_300.pth'  # noqa: E501

_levels = range(3)
model = dict(
    distiller=dict(
        _delete_=True,
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
del _levels
