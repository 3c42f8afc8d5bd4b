# CWD on the 5 FPN levels: RepPoints X101-32x4d-DCN -> RepPoints R50, 2x, COCO.
#
# Channel-wise Knowledge Distillation (Shu et al., ICCV 2021) with the
# settings of the AKD release's RepPoints recipe, whose base method is CWD
# (Gumpest/AvatarKD `akd_cwd_reppoints_x101-reppoints-r50_coco.py`):
# tau 1 and loss weight 7.5 per FPN level, student neck and head initialised
# from the teacher, SGD lr 0.01 for 8x2 images, 2x schedule.
# Two parts of that release recipe are left out here, so that this is the CWD
# baseline that its AKD child changes by the distiller only: a trainable 1x1
# conv (256 -> 256) on each student FPN level before the loss, and two extra
# head losses (SmoothL1 on the teacher's `reppoints_pts_init_out` /
# `reppoints_pts_refine_out`, weights 0.1 / 0.2).
_base_ = 'mmdet::reppoints/reppoints-moment_r50_fpn-gn_head-gn_2x_coco.py'

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

# mmdet model zoo `reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco`,
# box AP 44.2 (also the teacher of MMRazor's PKD RepPoints recipe).
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/reppoints/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco_20200329-f87da1ea.pth'  # noqa: E501

cwd = dict(type='ChannelWiseDivergence', tau=1, loss_weight=7.5)

model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='MMAKDFpnTeacherDistill',
    architecture=_base_.model,
    # Student: mmdet's RepPoints R50 (ImageNet backbone); neck and head
    # start from the teacher's, as in the AKD release (and FGD/MGD's
    # `init_student`): mmakd's `inherit`, logged when the Runner
    # initialises.
    inherit=['neck', 'bbox_head'],
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmdet::reppoints/reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        # One CWD loss per level of the neck's output tuple (P3-P7).
        distill_losses={f'loss_cwd_fpn{i}': cwd
                        for i in range(5)},
        loss_forward_mappings={
            f'loss_cwd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(5)
        }))

find_unused_parameters = True

val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

# SGD lr 0.01, momentum 0.9, weight decay 1e-4: mmdet's RepPoints setting and
# the release's; the 2x schedule of the base (the student's config).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
