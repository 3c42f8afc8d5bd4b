# Teacher segmentor for Digit Scenes: PSPNet, ResNetV1c-18 at width 32 (32,
# 64, 128 channels) at output stride 4, PSP head 64; from scratch, 1500
# iterations of batch 16 (_base_/schedules/digit_scenes_1500i.py),
# CPU-sized.
_base_ = [
    './_base_/models/pspnet_r18-d4_digit-scenes.py',
    './_base_/datasets/digit_scenes_segmentation.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/digit_scenes_1500i.py'
]

# mmakd first (its compatibility fixes, then its registrations), so that
# mmseg's own tools/train.py runs this config and every config
# built on it (students, distillations) as they are.
custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

# No gradient clipping (the detectors clip at norm 10).
optim_wrapper = dict(clip_grad=None)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=1500,
        max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False)
