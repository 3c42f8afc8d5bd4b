# AKD's run-time policy, as mmengine hooks (mmakd/engine/hooks): each AKD
# recipe adds `akd_hooks` to its `custom_hooks`.
# - DistillLossCheckHook: stops at the first NaN/inf in an Avatar loss or
#   its inputs (every iteration on the CPU; on a GPU the first 10 and every
#   `interval` after), and logs a loss that grows 100-fold;
# - AvatarStatsHook: the logged Avatar statistics (akd_sigma.*, akd_spread.*)
#   are computed only on the iterations that LoggerHook logs.
akd_hooks = [
    dict(type='mmrazor.DistillLossCheckHook', interval=50),
    dict(type='mmrazor.AvatarStatsHook'),
]
