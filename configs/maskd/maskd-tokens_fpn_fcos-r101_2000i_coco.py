# MasKD stage 1: receptive tokens of the FCOS R101 (caffe, GN head,
# multi-scale) teacher, 6 per FPN level (P3-P7), learned on the frozen teacher
# with its own loss on the masked features plus the dice diversity loss, 2,000
# iterations (../_base_/schedules/maskd_tokens_2000i.py).
# The checkpoint's `mask_modules.<level>.*` are what `tokens_ckpt` of the MasKD
# recipes beside this file reads (they default to the official token file of
# this teacher).
_base_ = [
    'mmdet::fcos/fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco.py',
    '../_base_/schedules/maskd_tokens_2000i.py'
]

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

# mmdet model zoo `fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco`, box AP
# 40.8.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/fcos/fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco/fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco-511424d6.pth'  # noqa: E501

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='ReceptiveTokenLearner',
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmdet::fcos/fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    channels=[256] * 5,
    num_tokens=6,
    weight_mask=True)

_schedule = _base_.maskd_tokens_schedule
train_cfg = _schedule.train_cfg
optim_wrapper = _schedule.optim_wrapper
param_scheduler = _schedule.param_scheduler
default_hooks = _schedule.default_hooks
log_processor = _schedule.log_processor
del _schedule
