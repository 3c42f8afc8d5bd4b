# CWD on the logits, PSPNet R18-w32 (teacher) -> R18-w8 (student), on Digit
# Scenes. The student's data and schedule are those of
# pspnet_r18-w8-d4_1500i_digit-scenes.py, so this config differs from
# "no KD" by the distillation only. tau=1 and loss_weight=5 are MMRazor's
# CWD logits recipe (cwd_logits_pspnet_r101-d8_pspnet_r18-d8_...).
_base_ = './pspnet_r18-w8-d4_1500i_digit-scenes.py'

# The teacher, pspnet_r18-w32-d4_1500i_digit-scenes.py: the student with the
# widths it narrows restored (tests/test_configs checks they agree).
_teacher = {
    **_base_.model,
    'backbone': {
        **_base_.model.backbone, 'stem_channels': 32,
        'base_channels': 32
    },
    'decode_head': {
        **_base_.model.decode_head, 'in_channels': 128,
        'channels': 64
    },
}
# Where tools/train.py writes the teacher of
# pspnet_r18-w32-d4_1500i_digit-scenes.py (beside this file) by default;
# pass another with --cfg-options model.teacher_ckpt=PATH (the demo,
# projects/digit_scenes/tools/akd_demo.py, passes the teacher it trained).
teacher_ckpt = 'work_dirs/pspnet_r18-w32-d4_1500i_digit-scenes/iter_1500.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='MMAKDSingleTeacherDistill',
    architecture=dict(_scope_='mmseg', **_base_.model),
    teacher=dict(_scope_='mmseg', **_teacher),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
        distill_losses=dict(
            loss_cwd=dict(type='ChannelWiseDivergence', tau=1, loss_weight=5)),
        loss_forward_mappings=dict(
            loss_cwd=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(from_student=False, recorder='logits')))))
del _teacher

find_unused_parameters = True
