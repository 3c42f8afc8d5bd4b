# FGD on the 5 FPN levels: RetinaNet X101-64x4d -> RetinaNet R50, 2x, COCO.
#
# Focal and Global Knowledge Distillation (Yang et al., CVPR 2022) with the
# recipe of the authors' release (yzd-v/FGD, configs/distillers/fgd/
# fgd_retina_rx101_64x4d_distill_retina_r50_fpn_2x_coco.py), which is the
# R101 recipe (`_base_`, same folder: FGD settings, student initialised from
# the teacher outside the backbone, optimiser, schedule) with the X101 teacher.
# Published: 40.7 box AP (FGD README; student alone 37.4).
_base_ = './fgd_fpn_retina-r101_retina-r50_2x_coco.py'

# mmdet model zoo `retinanet_x101-64x4d_fpn_1x_coco`, box AP 41.0
# (the checkpoint of the FGD config).
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_x101_64x4d_fpn_1x_coco/retinanet_x101_64x4d_fpn_1x_coco_20200130-366f5af1.pth'  # noqa: E501

model = dict(
    teacher=dict(
        cfg_path='mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt)
