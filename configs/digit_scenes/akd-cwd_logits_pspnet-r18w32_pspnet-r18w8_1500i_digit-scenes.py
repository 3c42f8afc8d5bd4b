# CWD + Avatars: the CWD recipe beside this file with AKD's three lines.
_base_ = './cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_digit-scenes.py'
custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
model = dict(distiller=dict(type='AvatarDistiller'))
