# MasKD + Avatars: the MasKD recipe beside this file with AvatarDistiller
# (its base already imports mmakd), in the release's form of AKD on MasKD
# (Gumpest/AvatarKD, akd_maskd.py): one dropout Avatar (p 0.1), then
# student and Avatar standardised per channel before the masks.
# AKD's hooks (NaN/inf check, statistics) as every AKD recipe has them.
_base_ = [
    './maskd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py',
    '../../../configs/_base_/akd.py'
]
model = dict(distiller=dict(type='AvatarDistiller', uncertainty='release'))
custom_hooks = _base_.akd_hooks
