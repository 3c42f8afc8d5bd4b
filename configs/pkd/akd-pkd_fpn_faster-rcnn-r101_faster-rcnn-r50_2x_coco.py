_base_ = [
    './pkd_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py',
    '../_base_/akd.py'
]

model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
