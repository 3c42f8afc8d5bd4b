_base_ = './mgd_fpn_cascade-mask-rcnn-x101_faster-rcnn-r50_2x_coco.py'

model = dict(distiller=dict(type='AvatarDistiller'))
