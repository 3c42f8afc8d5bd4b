# CWD + Avatars: the CWD recipe beside this file with AvatarDistiller (its
# base already imports mmakd).
# AKD's hooks (NaN/inf check, statistics) as every AKD recipe has them.
_base_ = [
    './cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_digit-scenes.py',
    '../../../configs/_base_/akd.py'
]
model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
