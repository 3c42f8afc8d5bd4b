# FGD + Avatars: the FGD recipe beside this file with AvatarDistiller.
_base_ = './fgd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py'
model = dict(distiller=dict(type='AvatarDistiller'))
