# MasKD stage 1: receptive tokens of the FCOS R101 (caffe, GN head,
# multi-scale) teacher, as the RetinaNet R101 stage 1 beside this file learns
# them (the official settings), with this teacher. The images come through that
# config's COCO pipeline (1333x800, flip); the official stage 1 uses the
# teacher config's own augmentation, which for multi-scale teachers also
# varies the scale. The teacher's own data preprocessor (mean, std, BGR)
# applies.
_base_ = './maskd-tokens_fpn_retina-r101_2000i_coco.py'

# mmdet model zoo `fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco`, box AP
# 40.8.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/fcos/fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco/fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco-511424d6.pth'  # noqa: E501

model = dict(
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmdet::fcos/fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt)
