# MasKD stage 1: receptive tokens of the RetinaNet X101-64x4d (3x, multi-scale)
# teacher, as the RetinaNet R101 stage 1 beside this file learns them (the
# official settings), with this teacher. The images come through that
# config's COCO pipeline (1333x800, flip); the official stage 1 uses the
# teacher config's own augmentation, which for multi-scale teachers also
# varies the scale. The teacher's own data preprocessor (mean, std, BGR)
# applies.
_base_ = './maskd-tokens_fpn_retina-r101_2000i_coco.py'

# mmdet model zoo `retinanet_x101-64x4d_fpn_ms-640-800-3x_coco`, box AP 41.0.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_x101_64x4d_fpn_mstrain_3x_coco/retinanet_x101_64x4d_fpn_mstrain_3x_coco_20210719_051838-022c2187.pth'  # noqa: E501

model = dict(
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmdet::retinanet/retinanet_x101-64x4d_fpn_ms-640-800-3x_coco.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt)
