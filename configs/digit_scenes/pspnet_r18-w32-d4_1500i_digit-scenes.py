# Teacher segmentor for Digit Scenes: PSPNet, ResNetV1c-18 at width 32 (32,
# 64, 128 channels) at output stride 4, PSP head 64; from scratch, 1500
# iterations of batch 16, CPU-sized.
_base_ = [
    '../_base_/models/pspnet_r18-d4_digit-scenes.py',
    '../_base_/datasets/digit_scenes_segmentation.py',
    'mmseg::_base_/default_runtime.py'
]

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=1500, val_interval=1500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', T_max=1500, eta_min=2e-5, by_epoch=False,
         begin=0, end=1500)
]

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
randomness = dict(seed=0)
