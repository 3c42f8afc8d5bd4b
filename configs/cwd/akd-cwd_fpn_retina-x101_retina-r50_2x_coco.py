_base_ = './cwd_fpn_retina-x101_retina-r50_2x_coco.py'

model = dict(distiller=dict(type='AvatarDistiller'))
