# Teacher detector for Digit Scenes: RetinaNet, ResNet-18 at width 32 (32,
# 64, 128 channels), FPN 64, 4-conv head; from scratch, 1500 iterations of
# batch 16 (16 epochs of the 1500 training scenes), CPU-sized.
_base_ = [
    '../_base_/models/retinanet_r18_fpn_digit-scenes.py',
    '../_base_/datasets/digit_scenes_detection.py',
    'mmdet::_base_/default_runtime.py'
]

train_cfg = dict(
    type='IterBasedTrainLoop',
    max_iters=1500,
    val_interval=1500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', T_max=1500, eta_min=2e-5, by_epoch=False,
         begin=0, end=1500)
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=1500,
        max_keep_ckpts=1))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
randomness = dict(seed=0)
