# MasKD + Avatars in the AKD release's form of AKD on MasKD (one dropout
# Avatar, p 0.1; student and Avatar standardised per channel before the
# masks). The AKD release has no FCOS config; its README's FCOS row is
# 42.9 AP.
_base_ = [
    './maskd_fpn_fcos-r101_fcos-r50_2x_coco.py',
    '../_base_/akd.py'
]

model = dict(distiller=dict(type='AvatarDistiller', uncertainty='release'))
custom_hooks = _base_.akd_hooks
