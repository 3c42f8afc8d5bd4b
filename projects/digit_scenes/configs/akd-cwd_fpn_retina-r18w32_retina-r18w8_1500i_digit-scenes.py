# CWD + Avatars: the CWD recipe beside this file with AvatarDistiller (its
# base already imports mmakd).
_base_ = './cwd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py'
model = dict(distiller=dict(type='AvatarDistiller'))
