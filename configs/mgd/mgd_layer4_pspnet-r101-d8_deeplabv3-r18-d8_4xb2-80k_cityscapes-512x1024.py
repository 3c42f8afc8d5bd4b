# MGD on the last backbone stage: PSPNet R101-d8 -> DeepLabV3 R18-d8,
# Cityscapes 512x1024, 80k.
#
# The PSPNet R18 recipe of this folder (the MGD release's segmentation
# settings: MGDConnector 512 -> 2048 with lambda_mgd 0.75 on `backbone.layer4`,
# MGDLoss alpha_mgd 2e-5, logits CWD tau 4 weight 3; MMRazor's 80k Cityscapes
# protocol) with the DeepLabV3 R18-d8 student (mmseg model zoo, 76.70 mIoU
# alone), as in the authors' psp_r101_distill_deepv3_r18_40k_512x512_city.py
# (published: 76.31 mIoU in the MGD README, 76.02 in the paper; student alone
# 73.20, their 40k / 512x512 protocol).
_base_ = './mgd_layer4_pspnet-r101-d8_pspnet-r18-d8_4xb2-80k_cityscapes-512x1024.py'  # noqa: E501

model = dict(
    architecture=dict(
        cfg_path=  # noqa: E251
        'mmseg::deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py'))
