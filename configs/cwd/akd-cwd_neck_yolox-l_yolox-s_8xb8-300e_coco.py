_base_ = './cwd_neck_yolox-l_yolox-s_8xb8-300e_coco.py'

model = dict(distiller=dict(type='AvatarDistiller'))
