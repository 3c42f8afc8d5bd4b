# CWD on the three neck outputs of mmdet's RTMDet, as mmyolo's RTMDet
# distillation recipe (mmyolo configs/rtmdet/distillation/, "Distill RTM
# Detectors Based on MMRazor") does it on mmyolo's RTMDet:
# - the output of each `neck.out_convs.<i>.conv` (strides 8, 16, 32; mmyolo's
#   `neck.out_layers.<i>.conv`), before its BatchNorm and activation;
# - the student through a 1x1 conv to the teacher's channels and a
#   BatchNorm without affine parameters or running statistics, the teacher
#   through that BatchNorm alone (both standardised, as PKD does, before
#   CWD);
# - ChannelWiseDivergence at its defaults (tau 1) with loss weight 1.
# A recipe lists this file after its student's mmdet config in `_base_` and
# sets `model.distiller = _base_.rtmdet_cwd_neck_distillers[<student>]`.
custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
# The teacher's parameters get no gradient.
find_unused_parameters = True

#: Neck channels of mmdet 3.3's RTMDet configs.
_channels = dict(tiny=96, s=128, m=192, l=256, x=320)
#: The student of each published pair and its teacher.
_teacher_of = dict(tiny='s', s='m', m='l', l='x')


def _distiller(student, teacher):
    levels = range(3)
    norm = dict(type='BN', affine=False, track_running_stats=False)
    recorders = {
        f'fpn{i}': dict(
            type='ModuleOutputs', source=f'neck.out_convs.{i}.conv')
        for i in levels
    }
    connectors = {}
    for i in levels:
        connectors[f'fpn{i}_s'] = dict(
            type='ConvModuleConnector',
            in_channel=student,
            out_channel=teacher,
            bias=False,
            norm_cfg=norm,
            act_cfg=None)
        connectors[f'fpn{i}_t'] = dict(
            type='NormConnector', in_channels=teacher, norm_cfg=norm)
    return dict(
        type='ConfigurableDistiller',
        student_recorders=recorders,
        teacher_recorders=recorders,
        connectors=connectors,
        distill_losses={
            f'loss_cwd_fpn{i}': dict(
                type='ChannelWiseDivergence', loss_weight=1)
            for i in levels
        },
        loss_forward_mappings={
            f'loss_cwd_fpn{i}': dict(
                preds_S=dict(
                    from_student=True,
                    recorder=f'fpn{i}',
                    connector=f'fpn{i}_s'),
                preds_T=dict(
                    from_student=False,
                    recorder=f'fpn{i}',
                    connector=f'fpn{i}_t'))
            for i in levels
        })


rtmdet_cwd_neck_distillers = {
    student: _distiller(_channels[student], _channels[teacher])
    for student, teacher in _teacher_of.items()
}
del _channels, _teacher_of
