_base_ = './cwd_neck_rtmdet-x_rtmdet-l_8xb32-300e_coco.py'

model = dict(distiller=dict(type='AvatarDistiller'))
