# Teacher detector for Digit Scenes: RetinaNet, ResNet-18 at width 32 (32,
# 64, 128 channels), FPN 64, 4-conv head; from scratch, 1500 iterations of
# batch 16 (_base_/schedules/digit_scenes_1500i.py), CPU-sized.
_base_ = [
    './_base_/models/retinanet_r18_fpn_digit-scenes.py',
    './_base_/datasets/digit_scenes_detection.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/schedules/digit_scenes_1500i.py'
]

# mmakd first (its compatibility fixes, then its registrations), so that
# mmdet's own tools/train.py runs this config and every config
# built on it (students, distillations) as they are.
custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

# Gradient clipping at norm 10 (the segmentors train without).
optim_wrapper = dict(clip_grad=dict(max_norm=10, norm_type=2))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=1500,
        max_keep_ckpts=1))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
