# MasKD on the 5 FPN levels: RetinaNet X101-64x4d -> RetinaNet R50, 2x, COCO.
#
# The official recipe (hunto/MasKD,
# mmrazor/configs/distill/maskd/retinanet_x101-retinanet_r50_coco.py): the
# R101 recipe beside this file with the X101 teacher of mmdet's 3x
# multi-scale schedule (box AP 41.0) and its tokens, the student's masks
# from iteration 8,500, and SmoothL1 instead of L1 on `retina_reg`.
_base_ = './maskd_fpn_retina-r101_retina-r50_2x_coco.py'

# mmdet model zoo `retinanet_x101-64x4d_fpn_ms-640-800-3x_coco`, box AP 41.0.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_x101_64x4d_fpn_mstrain_3x_coco/retinanet_x101_64x4d_fpn_mstrain_3x_coco_20210719_051838-022c2187.pth'  # noqa: E501

model = dict(
    teacher=dict(
        cfg_path='mmdet::retinanet/'
        'retinanet_x101-64x4d_fpn_ms-640-800-3x_coco.py'),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        _delete_=True, **_base_.maskd_fpn_distillers['retina-x101']))
