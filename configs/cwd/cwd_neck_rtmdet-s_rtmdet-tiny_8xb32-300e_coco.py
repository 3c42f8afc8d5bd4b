# CWD on the 3 neck outputs: RTMDet-s -> RTMDet-tiny, 300 epochs, COCO.
#
# mmyolo's RTMDet distillation recipe (kd_tiny_rtmdet_s_neck_300e_coco.py)
# on mmdet 3.3's own RTMDet (configs/_base_/distillers/cwd_neck.py),
# with the student's data, schedule and hooks: EMA and the switch to the
# pipeline without mosaic for the last 20 epochs, during which the student
# fine-tunes alone (distillation stops at epoch 280).
_base_ = [
    'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
    '../_base_/distillers/cwd_neck.py'
]

model = _base_.rtmdet_cwd_neck_models['tiny']
custom_hooks = [
    _base_.rtmdet_ema_hook,
    dict(
        type='PipelineSwitchHook',
        switch_epoch=_base_.max_epochs - _base_.stage2_num_epochs,
        switch_pipeline=_base_.train_pipeline_stage2),
    _base_.rtmdet_stop_distill_hook,
]
