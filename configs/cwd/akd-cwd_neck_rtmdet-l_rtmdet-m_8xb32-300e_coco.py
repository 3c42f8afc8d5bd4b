_base_ = './cwd_neck_rtmdet-l_rtmdet-m_8xb32-300e_coco.py'

model = dict(distiller=dict(type='AvatarDistiller'))
