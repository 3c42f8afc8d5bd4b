# MasKD stage 1 (hunto/MasKD, mmdetection/configs/maskd/): the receptive
# tokens learn for 2,000 iterations with Adam lr 0.01 and weight decay 1e-3,
# cosine to 1e-6, 8 GPUs x 2 images (the teacher config's data); the
# teacher is validated on the masked features at the end.
# A stage-1 config lists this file after its teacher's mmdet config in
# `_base_` and takes each entry of `maskd_tokens_schedule` as its own (the
# names differ from the teacher's, which a second base may not repeat).
_max_iters = 2000
maskd_tokens_schedule = dict(
    train_cfg=dict(
        _delete_=True,
        type='IterBasedTrainLoop',
        max_iters=_max_iters,
        val_interval=_max_iters),
    optim_wrapper=dict(
        _delete_=True,
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=0.01, weight_decay=1e-3)),
    param_scheduler=[
        dict(
            type='CosineAnnealingLR',
            T_max=_max_iters,
            eta_min=1e-6,
            by_epoch=False,
            begin=0,
            end=_max_iters)
    ],
    default_hooks=dict(
        checkpoint=dict(
            type='CheckpointHook', by_epoch=False, interval=_max_iters)),
    log_processor=dict(by_epoch=False))
del _max_iters
