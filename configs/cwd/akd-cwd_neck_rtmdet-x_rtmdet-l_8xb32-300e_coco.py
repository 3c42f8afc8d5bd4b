_base_ = [
    './cwd_neck_rtmdet-x_rtmdet-l_8xb32-300e_coco.py',
    '../_base_/akd.py'
]

model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.custom_hooks + _base_.akd_hooks
