# CWD on the three FPN levels, RetinaNet R18-w32 (teacher) -> R18-w8
# (student), on Digit Scenes. The student's data and schedule are those of
# retinanet_r18-w8_fpn_1500i_digit-scenes.py, so this config differs from
# "no KD" by the distillation only. tau=1 and loss_weight=10 per level are
# MMRazor's CWD FPN recipe (cwd_fpn_frcnn_r101_frcnn_r50_1x_coco.py).
_base_ = './retinanet_r18-w8_fpn_1500i_digit-scenes.py'

# The teacher, retinanet_r18-w32_fpn_1500i_digit-scenes.py: the student with
# the widths it narrows restored (tests/test_configs checks they agree).
_teacher = {
    **_base_.model,
    'backbone': {**_base_.model.backbone, 'base_channels': 32},
    'neck': {**_base_.model.neck, 'in_channels': [32, 64, 128]},
    'bbox_head': {**_base_.model.bbox_head, 'stacked_convs': 4},
}
# Where tools/train.py writes the teacher of
# retinanet_r18-w32_fpn_1500i_digit-scenes.py (beside this file) by default;
# pass another with --cfg-options model.teacher_ckpt=PATH (the demo,
# projects/digit_scenes/tools/akd_demo.py, passes the teacher it trained).
teacher_ckpt = 'work_dirs/retinanet_r18-w32_fpn_1500i_digit-scenes/iter_1500.pth'  # noqa: E501

_levels = range(3)
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='MMAKDFpnTeacherDistill',
    architecture=dict(_scope_='mmdet', **_base_.model),
    teacher=dict(_scope_='mmdet', **_teacher),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={
            f'loss_cwd_fpn{i}': dict(
                type='ChannelWiseDivergence', tau=1, loss_weight=10)
            for i in _levels
        },
        loss_forward_mappings={
            f'loss_cwd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in _levels
        }))
del _teacher, _levels

find_unused_parameters = True
