# The Digit Scenes schedule of every model and distillation: 1500 iterations
# (batch 16, 16 epochs of the 1500 training scenes), one validation at the
# end; AdamW 2e-3 with weight decay 0.05, 100 iterations of linear warm-up,
# then cosine to 2e-5. CPU-sized, from scratch.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1500, val_interval=1500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', T_max=1500, eta_min=2e-5, by_epoch=False,
         begin=0, end=1500)
]
randomness = dict(seed=0)
