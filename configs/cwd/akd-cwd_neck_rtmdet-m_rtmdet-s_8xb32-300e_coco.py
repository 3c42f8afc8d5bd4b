_base_ = './cwd_neck_rtmdet-m_rtmdet-s_8xb32-300e_coco.py'

model = dict(distiller=dict(type='AvatarDistiller'))
