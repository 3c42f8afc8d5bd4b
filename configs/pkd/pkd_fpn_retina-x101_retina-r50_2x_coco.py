# PKD on the FPN levels P3-P6: RetinaNet X101-64x4d -> RetinaNet R50, 2x, COCO.
#
# PKD: Pearson-correlation feature distillation (Cao et al., NeurIPS 2022).
# MMRazor's recipe, unchanged (`pkd_fpn_retina_x101_retina_r50_2x_coco.py`,
# by the PKD authors): PKDLoss with loss weight 10 on the first 4 `neck`
# outputs; student from ImageNet weights; SGD lr 0.01, 2x schedule, 8 GPUs x
# 2 images. Published: 40.8 box AP (MMRazor's PKD README; student alone 37.4).
_base_ = 'mmrazor::distill/mmdet/pkd/pkd_fpn_retina_x101_retina_r50_2x_coco.py'

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
