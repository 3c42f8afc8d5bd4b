# CWD on the 3 neck outputs: YOLOX-l -> YOLOX-s, 300 epochs, COCO.
#
# No published YOLOX distillation recipe was found: this is mmyolo's RTMDet
# distillation recipe (configs/_base_/distillers/cwd_neck.py: the output of
# each `neck.out_convs.<i>.conv`, the student's through a 1x1 conv from 128
# to the teacher's 256 channels, both standardised by a parameter-free
# BatchNorm, CWD tau 1, weight 1) on mmdet 3.3's YOLOX, with the student's
# data, schedule and hooks: 8 GPUs x 8 images, SGD lr 0.01, Mosaic and
# MixUp, and from the mode switch (`num_last_epochs` = 15; from 0-based
# epoch 284, by mmdet's hook) the pipeline without them and the head's L1
# loss, during which the student fine-tunes alone. Teacher: mmdet model zoo
# `yolox_l_8x8_300e_coco`, 49.4 box AP (student alone 40.5).
_base_ = [
    'mmdet::yolox/yolox_s_8xb8-300e_coco.py',
    '../_base_/distillers/cwd_neck.py'
]

model = _base_.yolox_cwd_neck_models['s']
# The student's hooks (mmdet's `yolox_s_8xb8-300e_coco.py`), with two
# changes for the distillation model:
# - mmdet's YOLOXModeSwitchHook turns on the L1 loss at
#   `runner.model.bbox_head`, which a distillation model lacks
#   (AttributeError at the switch); mmakd's StudentYOLOXModeSwitchHook is
#   the same hook applied to the student;
# - EMA with strict_load=False, as the RTMDet recipes (mmyolo's): the EMA
#   copy is of the whole distillation model.
# MMRazor's StopDistillHook ends the distillation where the mode switch
# happens, as mmyolo's RTMDet recipe ends it at its pipeline switch: the
# last epochs, without Mosaic and MixUp and with the L1 loss, train the
# student alone on its own losses. The mode switch hook switches before
# epoch `max_epochs - num_last_epochs - 1` (0-based: `epoch + 1 >=
# max_epochs - num_last_epochs`), 284 of 300; StopDistillHook stops before
# epoch `stop_epoch`.
custom_hooks = [
    dict(
        type='mmrazor.StudentYOLOXModeSwitchHook',
        num_last_epochs=_base_.num_last_epochs,
        priority=48),
    dict(type='SyncNormHook', priority=48),
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0001,
        update_buffers=True,
        strict_load=False,
        priority=49),
    dict(
        type='mmrazor.StopDistillHook',
        stop_epoch=_base_.max_epochs - _base_.num_last_epochs - 1),
]
