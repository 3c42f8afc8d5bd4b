# MasKD on the 5 FPN levels: RepPoints X101-32x4d-DCN -> RepPoints R50 (GN
# neck and head), 2x, COCO.
#
# The official recipe (hunto/MasKD,
# mmrazor/configs/distill/maskd/reppoints_x101-reppoints-r50_coco.py):
# - MasKD on each neck output (after the neck's GroupNorm) through the
#   teacher's frozen tokens, the student through its own 1x1 conv; loss
#   weight 10 per level, the student's masks from iteration 5,000;
# - SmoothL1 (beta 0.11) between the student's and the teacher's
#   `reppoints_pts_refine_out` (weight 0.2) and `reppoints_pts_init_out`
#   (weight 0.1) per level;
# - the student starts from ImageNet weights; SGD lr 0.01, momentum 0.9,
#   weight decay 1e-4, no gradient clipping, 2x schedule, 8 GPUs x 2 images.
_base_ = [
    'mmdet::reppoints/reppoints-moment_r50_fpn-gn_head-gn_2x_coco.py',
    '../_base_/distillers/maskd_fpn.py'
]

# mmdet model zoo `reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco`,
# box AP 44.2.
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/reppoints/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco_20200329-f87da1ea.pth'  # noqa: E501

model = dict(
    _scope_='mmrazor',
    _delete_=True,
    # The head terms need the teacher's head: its whole forward.
    type='MMAKDSingleTeacherDistill',
    architecture=_base_.model,
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmdet::reppoints/reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=_base_.maskd_fpn_distillers['reppoints-x101-dcn'])

val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
