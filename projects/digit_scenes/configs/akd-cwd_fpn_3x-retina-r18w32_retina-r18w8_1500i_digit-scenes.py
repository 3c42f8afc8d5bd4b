# CWD + Avatars from three teachers: the recipe beside this file with
# AvatarDistiller, which draws the Avatars of each teacher's records.
# AKD's hooks (NaN/inf check, statistics) as every AKD recipe has them.
_base_ = [
    './cwd_fpn_3x-retina-r18w32_retina-r18w8_1500i_digit-scenes.py',
    '../../../configs/_base_/akd.py'
]
model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
