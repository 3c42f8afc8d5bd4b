# CWD on the logits: PSPNet R101-d8 -> DeepLabV3 R18-d8, Cityscapes 512x1024,
# 80k.
#
# The PSPNet R18 recipe of this folder (MMRazor's CWD logits settings: tau 1,
# loss weight 5, 80k, 4x2 crops of 512x1024) with the DeepLabV3 R18-d8 student
# (mmseg model zoo, 76.70 mIoU alone), the second student of the CWD, MGD and
# AKD papers' Cityscapes experiments. Both students' `decode_head.conv_seg`
# give 19-class logits at 1/8 resolution, so the distiller is unchanged.
_base_ = './cwd_logits_pspnet-r101-d8_pspnet-r18-d8_4xb2-80k_cityscapes-512x1024.py'  # noqa: E501

model = dict(
    architecture=dict(
        cfg_path=  # noqa: E251
        'mmseg::deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py',
        pretrained=False))
