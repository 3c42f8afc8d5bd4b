_base_ = [
    './cwd_fpn_retina-r101_retina-r50_2x_coco.py',
    '../_base_/akd.py'
]

model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
