# A tiny single-teacher distillation (KL on logits, ToyNet 16 -> 4 channels)
# on generated data, for the tools' tests. It runs anywhere in seconds:
#   PYTHONPATH=tests/data python tools/train.py tests/data/toy_kd.py
#   PYTHONPATH=tests/data PORT=29555 bash tools/dist_train.sh \
#       tests/data/toy_kd.py 2          # 2 CPU processes (gloo)
custom_imports = dict(
    imports=['mmakd', 'mmakd_toys'], allow_failed_imports=False)
default_scope = 'mmrazor'

model = dict(
    _scope_='mmrazor',
    type='MMAKDSingleTeacherDistill',
    architecture=dict(type='ToyNet', channels=4),
    teacher=dict(type='ToyNet', channels=16),
    teacher_ckpt=None,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head')),
        distill_losses=dict(
            loss_kl=dict(type='KLDivergence', tau=2, loss_weight=1)),
        loss_forward_mappings=dict(
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(from_student=False, recorder='logits')))))

dataset = dict(type='ToyPatterns', num_samples=64)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    dataset=dataset,
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    dataset=dict(dataset, seed=1),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='ToyAccuracy')
test_evaluator = val_evaluator

train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
auto_scale_lr = dict(enable=False, base_batch_size=8)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
    sampler_seed=dict(type='DistSamplerSeedHook'))
log_processor = dict(by_epoch=False)
log_level = 'INFO'
# gloo: distributed runs work on CPU (tools/dist_train.sh).
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
load_from = None
resume = False
