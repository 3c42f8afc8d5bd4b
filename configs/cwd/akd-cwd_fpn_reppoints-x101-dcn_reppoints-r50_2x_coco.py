_base_ = [
    './cwd_fpn_reppoints-x101-dcn_reppoints-r50_2x_coco.py',
    '../_base_/akd.py'
]

model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
