# MasKD stage 1 on Digit Scenes: receptive tokens (6 per FPN level) learned
# on the trained, frozen RetinaNet R18-w32 teacher
# (retinanet_r18-w32_fpn_1500i_digit-scenes.py) with its own detection loss
# on the masked FPN outputs plus the dice diversity loss (weight 1 per level).
# The official stage 1 (hunto/MasKD, mmdetection/configs/maskd/): Adam lr
# 0.01, weight decay 1e-3, cosine to 1e-6, 2,000 iterations of 16 images;
# here 300 iterations of 16 scenes (3 epochs of the 1,500 training scenes),
# CPU-sized. Validation runs the teacher on the masked features.
#
# Train it after the teacher; the MasKD distillations beside this file read
# its checkpoint (`tokens_ckpt`):
#   python tools/train.py projects/digit_scenes/configs/maskd-tokens_fpn_retina-r18w32_300i_digit-scenes.py  # noqa: E501
_base_ = './retinanet_r18-w32_fpn_1500i_digit-scenes.py'

# Where tools/train.py writes the teacher by default.
teacher_ckpt = 'work_dirs/retinanet_r18-w32_fpn_1500i_digit-scenes/iter_1500.pth'  # noqa: E501
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='ReceptiveTokenLearner',
    teacher=dict(_scope_='mmdet', **_base_.model),
    teacher_ckpt=teacher_ckpt,
    channels=[64, 64, 64],
    num_tokens=6,
    weight_mask=True)

max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=0.01, weight_decay=1e-3))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters,
        eta_min=1e-6,
        by_epoch=False,
        begin=0,
        end=max_iters)
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
