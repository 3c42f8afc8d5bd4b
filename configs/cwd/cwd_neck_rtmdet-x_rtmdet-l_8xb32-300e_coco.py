# CWD on the 3 neck outputs: RTMDet-x -> RTMDet-l, 300 epochs, COCO.
#
# mmyolo's RTMDet distillation recipe (kd_l_rtmdet_x_neck_300e_coco.py)
# on mmdet 3.3's own RTMDet: the distiller of
# configs/_base_/distillers/rtmdet_cwd_neck.py; the student's data, schedule
# and hooks (EMA, the pipeline switch to no mosaic for the last 20 epochs);
# distillation stops at epoch 280, so the student fine-tunes alone on the
# switched pipeline for the last 20.
_base_ = [
    'mmdet::rtmdet/rtmdet_l_8xb32-300e_coco.py',
    '../_base_/distillers/rtmdet_cwd_neck.py'
]

# mmdet model zoo `rtmdet_x_8xb32-300e_coco`.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v3.0/rtmdet/rtmdet_x_8xb32-300e_coco/rtmdet_x_8xb32-300e_coco_20220715_230555-cc79b9ae.pth'  # noqa: E501

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='FpnTeacherDistill',
    architecture=dict(
        cfg_path='mmdet::rtmdet/rtmdet_l_8xb32-300e_coco.py',
        pretrained=False),
    # `pretrained=False`: teacher_ckpt supplies every teacher weight.
    teacher=dict(
        cfg_path='mmdet::rtmdet/rtmdet_x_8xb32-300e_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=_base_.rtmdet_cwd_neck_distillers['l'])

# The student's EMA and pipeline switch (strict_load=False as mmyolo's
# recipe: the EMA copy is of the whole distillation model), and mmyolo's
# stop of the distillation at epoch 280.
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0002,
        update_buffers=True,
        strict_load=False,
        priority=49),
    dict(
        type='PipelineSwitchHook',
        switch_epoch=_base_.max_epochs - _base_.stage2_num_epochs,
        switch_pipeline=_base_.train_pipeline_stage2),
    dict(type='mmrazor.StopDistillHook', stop_epoch=280)
]
