# Student segmentor for Digit Scenes: the teacher's PSPNet
# (pspnet_r18-w32-d4_1500i_digit-scenes.py) with a 4x narrower ResNetV1c-18
# (8, 16, 32 channels) and a 32-channel PSP head. Both predict the same
# 11-class logits, so logits-level CWD needs no connector.
_base_ = './pspnet_r18-w32-d4_1500i_digit-scenes.py'

model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    decode_head=dict(in_channels=32, channels=32))
