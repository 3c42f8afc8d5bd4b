# CWD on the logits: PSPNet R101-d8 -> PSPNet R18-d8, Cityscapes 512x1024, 80k.
#
# MMRazor's recipe, unchanged (`cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-
# 80k_cityscapes-512x1024.py`): CWD (Shu et al., ICCV 2021) on
# `decode_head.conv_seg`, tau 1, loss weight 5; teacher PSPNet R101-d8 80k
# (mIoU 79.76); student from ImageNet weights; mmseg's 80k schedule, SGD lr
# 0.01, 4 GPUs x 2 crops of 512x1024. MMRazor reports 75.54 mIoU (student
# alone 74.87).
_base_ = 'mmrazor::distill/mmseg/cwd/cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'  # noqa: E501

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
