# CWD on the three neck outputs of mmdet's YOLO-style one-stage detectors
# (RTMDet's CSPNeXtPAFPN, YOLOX's YOLOXPAFPN), as mmyolo's RTMDet
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
# sets `model = _base_.<family>_cwd_neck_models[<student>]` (the distillation
# of that student by its teacher, teacher_ckpt from mmdet's model zoo):
# - RTMDet (`rtmdet_cwd_neck_models`): each published pair of mmyolo's
#   recipe; the student's pipeline switch goes between `rtmdet_ema_hook` and
#   `rtmdet_stop_distill_hook` in `custom_hooks`;
# - YOLOX (`yolox_cwd_neck_models`): YOLOX-l -> YOLOX-s, mmyolo's RTMDet
#   settings on YOLOX (no published YOLOX distillation recipe was found);
#   the recipe sets its own hooks.
custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
# The teacher's parameters get no gradient.
find_unused_parameters = True


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


def _models(config, channels, teacher_of, checkpoints):
    """The distillation of each student of `teacher_of` by its teacher;
    `config` is the mmdet config name with `{}` for the model size."""
    return {
        student: dict(
            _delete_=True,
            _scope_='mmrazor',
            type='MMAKDFpnTeacherDistill',
            architecture=dict(
                cfg_path=config.format(student), pretrained=False),
            # `pretrained=False`: teacher_ckpt supplies every teacher weight.
            teacher=dict(cfg_path=config.format(teacher), pretrained=False),
            teacher_ckpt=checkpoints[teacher],
            distiller=_distiller(channels[student], channels[teacher]))
        for student, teacher in teacher_of.items()
    }


# RTMDet: neck channels of mmdet 3.3's configs, the student of each published
# pair and its teacher, and mmdet's model zoo checkpoints
# (`rtmdet_<size>_8xb32-300e_coco`).
rtmdet_cwd_neck_models = _models(
    'mmdet::rtmdet/rtmdet_{}_8xb32-300e_coco.py',
    channels=dict(tiny=96, s=128, m=192, l=256, x=320),
    teacher_of=dict(tiny='s', s='m', m='l', l='x'),
    checkpoints=dict(
        s='https://download.openmmlab.com/mmdetection/v3.0/rtmdet/rtmdet_s_8xb32-300e_coco/rtmdet_s_8xb32-300e_coco_20220905_161602-387a891e.pth',  # noqa: E501
        m='https://download.openmmlab.com/mmdetection/v3.0/rtmdet/rtmdet_m_8xb32-300e_coco/rtmdet_m_8xb32-300e_coco_20220719_112220-229f527c.pth',  # noqa: E501
        l='https://download.openmmlab.com/mmdetection/v3.0/rtmdet/rtmdet_l_8xb32-300e_coco/rtmdet_l_8xb32-300e_coco_20220719_112030-5a0be7c4.pth',  # noqa: E501
        x='https://download.openmmlab.com/mmdetection/v3.0/rtmdet/rtmdet_x_8xb32-300e_coco/rtmdet_x_8xb32-300e_coco_20220715_230555-cc79b9ae.pth',  # noqa: E501
    ))
# The student's EMA, with strict_load=False as mmyolo's recipe (the EMA copy
# is of the whole distillation model), and mmyolo's stop of the
# distillation at epoch 280 of 300.
rtmdet_ema_hook = dict(
    type='EMAHook',
    ema_type='ExpMomentumEMA',
    momentum=0.0002,
    update_buffers=True,
    strict_load=False,
    priority=49)
rtmdet_stop_distill_hook = dict(type='mmrazor.StopDistillHook', stop_epoch=280)

# YOLOX: neck channels of mmdet 3.3's configs (`out_channels` of YOLOXPAFPN)
# and mmdet's model zoo checkpoint of the teacher (`yolox_l_8x8_300e_coco`,
# listed by mmdet 3.3's metafile for `yolox_l_8xb8-300e_coco.py`).
yolox_cwd_neck_models = _models(
    'mmdet::yolox/yolox_{}_8xb8-300e_coco.py',
    channels=dict(s=128, l=256),
    teacher_of=dict(s='l'),
    checkpoints=dict(
        l='https://download.openmmlab.com/mmdetection/v2.0/yolox/yolox_l_8x8_300e_coco/yolox_l_8x8_300e_coco_20211126_140236-d3bd2b23.pth',  # noqa: E501
    ))
