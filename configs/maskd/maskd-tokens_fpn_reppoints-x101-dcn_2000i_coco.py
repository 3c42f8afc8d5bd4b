# MasKD stage 1: receptive tokens of the RepPoints X101-32x4d-DCN teacher, 6
# per FPN level (P3-P7), learned on the frozen teacher with its own loss on the
# masked features plus the dice diversity loss, 2,000 iterations
# (../_base_/schedules/maskd_tokens_2000i.py).
# The checkpoint's `mask_modules.<level>.*` are what `tokens_ckpt` of the MasKD
# recipes beside this file reads (they default to the official token file of
# this teacher).
_base_ = [
    'mmdet::reppoints/reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco.py',  # noqa: E501
    '../_base_/schedules/maskd_tokens_2000i.py'
]

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

# mmdet model zoo `reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco`,
# box AP 44.2.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/reppoints/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco_20200329-f87da1ea.pth'  # noqa: E501

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='ReceptiveTokenLearner',
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmdet::reppoints/reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco.py',  # noqa: E501
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
