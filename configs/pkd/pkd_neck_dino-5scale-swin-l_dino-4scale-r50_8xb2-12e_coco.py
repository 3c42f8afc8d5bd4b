# PKD on the 4 neck levels the two encoders share: DINO-5scale Swin-L ->
# DINO-4scale R50, 12 epochs, COCO.
#
# PKD (Cao et al., NeurIPS 2022) as MMRazor's PKD recipes apply it:
# PKDLoss per level on the `neck` (ChannelMapper) outputs, i.e. the
# multi-scale features DINO's transformer encoder receives, with the loss
# weight 6 of MMRazor's recipes with a Swin (Mask R-CNN Swin-S -> RetinaNet
# R50) and a two-stage teacher. No published PKD (or other feature
# distillation) recipe for DINO was found: the weight is not tuned for
# DETR-like detectors. The student's own data, schedule and hooks (mmdet's
# `dino-4scale_r50_8xb2-12e_coco.py`: AdamW lr 1e-4, backbone lr x 0.1,
# gradient clipping 0.1, 8 GPUs x 2 images).
#
# Levels (tools/misc/distill_config.py --list on both configs): the
# 4-scale student's neck gives strides 8, 16, 32, 64 (`neck[0..3]`), the
# 5-scale teacher's 4, 8, 16, 32, 64 (`neck[0..4]`); student level i is
# compared with teacher level i + 1. Both necks give 256 channels, so no
# connector; at stride 8 and above both sizes are ceil(input / stride).
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
# The teacher's parameters get no gradient.
find_unused_parameters = True

# mmdet model zoo `dino-5scale_swin-l_8xb2-12e_coco`, 57.2 box AP.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v3.0/dino/dino-5scale_swin-l_8xb2-12e_coco/dino-5scale_swin-l_8xb2-12e_coco_20230228_072924-a654145f.pth'  # noqa: E501

_levels = range(4)
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    # The teacher runs its backbone and neck only.
    type='MMAKDFpnTeacherDistill',
    architecture=dict(
        cfg_path='mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
        pretrained=False),
    # `pretrained=False`: teacher_ckpt supplies every teacher weight.
    teacher=dict(
        cfg_path='mmdet::dino/dino-5scale_swin-l_8xb2-12e_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            neck=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(
            neck=dict(type='ModuleOutputs', source='neck')),
        distill_losses={
            f'loss_pkd_neck{i}': dict(type='PKDLoss', loss_weight=6)
            for i in _levels
        },
        loss_forward_mappings={
            f'loss_pkd_neck{i}': dict(
                preds_S=dict(from_student=True, recorder='neck', data_idx=i),
                preds_T=dict(
                    from_student=False, recorder='neck', data_idx=i + 1))
            for i in _levels
        }))
del _levels

# Validation of the student (and the teacher), as MMRazor's recipes.
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
