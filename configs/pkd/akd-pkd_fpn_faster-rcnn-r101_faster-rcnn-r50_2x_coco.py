_base_ = './pkd_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py'

model = dict(distiller=dict(type='AvatarDistiller'))
