# CWD on the 5 FPN levels: RetinaNet R101 -> RetinaNet R50, 2x, COCO.
#
# Channel-wise Knowledge Distillation (Shu et al., ICCV 2021). The recipe is
# MMRazor's `cwd_fpn_retina_r101_retina_r50_1x_coco.py` (tau 1, loss weight
# 10 per level on the whole `neck` output, SGD lr 0.01 for 8x2 images, student
# from ImageNet weights, no inheritance from the teacher) on the 2x schedule
# (below) that the AKD paper's RetinaNet results use.
_base_ = 'mmrazor::distill/mmdet/cwd/cwd_fpn_retina_r101_retina_r50_1x_coco.py'

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

# mmdet model zoo `retinanet_r101_fpn_2x_coco`, box AP 38.9. (MMRazor's recipe
# inherits the Faster R-CNN checkpoint's file name from its parent config;
# this names the RetinaNet one.)
teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_2x_coco/retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth'  # noqa: E501

model = dict(
    architecture=dict(
        cfg_path='mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
        pretrained=False),
    # `pretrained=False`: teacher_ckpt supplies every teacher weight.
    teacher=dict(
        cfg_path='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt)

# 2x schedule: mmdet's `schedule_2x.py` (epochs and steps; the warm-up is
# the 1x one of the base), the one copy of it in mmakd's recipes (the others
# take it from their student's mmdet config): MMRazor's recipe, the base, has
# mmdet's 1x schedule, and mmengine refuses a second base that sets the same
# keys. The lr stays MMRazor's 0.01.
train_cfg = dict(max_epochs=24)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(
        type='MultiStepLR',
        begin=0,
        end=24,
        by_epoch=True,
        milestones=[16, 22],
        gamma=0.1)
]
