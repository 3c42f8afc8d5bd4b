_base_ = [
    './pkd_fpn_retina-x101_retina-r50_2x_coco.py',
    '../_base_/akd.py'
]

model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
