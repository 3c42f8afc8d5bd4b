# CWD on the 5 FPN levels: RetinaNet X101-64x4d -> RetinaNet R50, 2x, COCO.
#
# The R101 recipe of this folder (MMRazor's CWD RetinaNet settings: tau 1,
# loss weight 10 per level, SGD lr 0.01, 2x) with the stronger teacher of the
# AKD paper's comparison (RetinaNet X101 41.0 -> R50 37.4; CWD 40.5 there).
_base_ = './cwd_fpn_retina-r101_retina-r50_2x_coco.py'

# mmdet model zoo `retinanet_x101-64x4d_fpn_1x_coco`, box AP 41.0 (the teacher
# of MMRazor's MGD and PKD RetinaNet recipes).
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_x101_64x4d_fpn_1x_coco/retinanet_x101_64x4d_fpn_1x_coco_20200130-366f5af1.pth'  # noqa: E501

model = dict(
    teacher=dict(
        cfg_path='mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt)
