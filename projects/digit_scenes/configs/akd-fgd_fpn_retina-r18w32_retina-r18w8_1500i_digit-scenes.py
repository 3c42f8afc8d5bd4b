# FGD + Avatars: the FGD recipe beside this file with AvatarDistiller.
# AKD's hooks (NaN/inf check, statistics) as every AKD recipe has them.
_base_ = [
    './fgd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py',
    '../../../configs/_base_/akd.py'
]
model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
