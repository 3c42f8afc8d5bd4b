# MasKD stage 1: receptive tokens of the RetinaNet R101 teacher, 6 per FPN
# level (P3-P7) with the probability head, learned on the frozen teacher
# (BatchNorm in eval mode) with its own loss on the masked features plus the
# dice diversity loss (weight 1 per level), as the official stage 1
# (hunto/MasKD, mmdetection/configs/maskd/): Adam lr 0.01, weight decay
# 1e-3, cosine to 1e-6, 2,000 iterations, 8 GPUs x 2 images of the teacher
# config's COCO data. Validation runs the teacher on the masked features.
# The checkpoint's `mask_modules.<level>.*` are what `tokens_ckpt` of the
# MasKD recipes beside this file reads (they default to the official token
# file of this teacher). The other teachers' stage-1 configs inherit this
# one.
_base_ = 'mmdet::retinanet/retinanet_r101_fpn_2x_coco.py'

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

# mmdet model zoo `retinanet_r101_fpn_2x_coco`, box AP 38.9.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_2x_coco/retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth'  # noqa: E501

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='ReceptiveTokenLearner',
    teacher=dict(
        cfg_path='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    channels=[256] * 5,
    num_tokens=6,
    weight_mask=True)

max_iters = 2000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
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
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters))
log_processor = dict(by_epoch=False)
