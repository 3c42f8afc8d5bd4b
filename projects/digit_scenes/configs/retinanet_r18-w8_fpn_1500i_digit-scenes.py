# Student detector for Digit Scenes: the teacher's RetinaNet
# (retinanet_r18-w32_fpn_1500i_digit-scenes.py) with a 4x narrower
# ResNet-18 (8, 16, 32 channels) and a 1-conv head. The FPN keeps the
# teacher's 64 channels, so FPN-level CWD needs no connector.
_base_ = './retinanet_r18-w32_fpn_1500i_digit-scenes.py'

model = dict(
    backbone=dict(base_channels=8),
    neck=dict(in_channels=[8, 16, 32]),
    bbox_head=dict(stacked_convs=1))
