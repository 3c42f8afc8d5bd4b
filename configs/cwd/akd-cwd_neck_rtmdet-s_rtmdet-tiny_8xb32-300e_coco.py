_base_ = './cwd_neck_rtmdet-s_rtmdet-tiny_8xb32-300e_coco.py'

model = dict(distiller=dict(type='AvatarDistiller'))
