# PKD on the FPN levels P2-P5: Faster R-CNN R101 -> Faster R-CNN R50, 2x, COCO.
#
# PKD: Pearson-correlation feature distillation (Cao et al., NeurIPS 2022).
# MMRazor's recipe, unchanged (`pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_
# coco.py`, by the PKD authors): PKDLoss with loss weight 6 on the first 4
# `neck` outputs; student from ImageNet weights; SGD lr 0.02, 2x schedule,
# 8 GPUs x 2 images. Published: 40.3 box AP (MMRazor's PKD README; its
# metafile says 40.4; student alone 38.4).
_base_ = 'mmrazor::distill/mmdet/pkd/pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py'  # noqa: E501

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
