_base_ = [
    './pkd_neck_dino-5scale-swin-l_dino-4scale-r50_8xb2-12e_coco.py',
    '../_base_/akd.py'
]

model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
