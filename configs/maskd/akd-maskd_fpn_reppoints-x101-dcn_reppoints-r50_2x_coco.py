# MasKD + Avatars in the AKD release's form of AKD on MasKD (one dropout
# Avatar, p 0.1; student and Avatar standardised per channel before the
# masks); the head terms stay plain SmoothL1. The AKD release's RepPoints
# config is on CWD (configs/cwd/akd-cwd_fpn_reppoints-x101-dcn_*).
_base_ = [
    './maskd_fpn_reppoints-x101-dcn_reppoints-r50_2x_coco.py',
    '../_base_/akd.py'
]

model = dict(
    distiller=dict(
        type='AvatarDistiller',
        uncertainty='release',
        exclude_losses=_base_.maskd_head_losses['reppoints-x101-dcn']))
custom_hooks = _base_.akd_hooks
