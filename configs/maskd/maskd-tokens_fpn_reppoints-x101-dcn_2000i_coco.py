# MasKD stage 1: receptive tokens of the RepPoints X101-32x4d-DCN
# teacher, as the RetinaNet R101 stage 1 beside this file learns them (the
# official settings), with this teacher. The images come through that
# config's COCO pipeline (1333x800, flip); the official stage 1 uses the
# teacher config's own augmentation, which for multi-scale teachers also
# varies the scale. The teacher's own data preprocessor (mean, std, BGR)
# applies.
_base_ = './maskd-tokens_fpn_retina-r101_2000i_coco.py'

# mmdet model zoo `reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco`,
# box AP 44.2.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/reppoints/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco_20200329-f87da1ea.pth'  # noqa: E501

model = dict(
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmdet::reppoints/reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt)
