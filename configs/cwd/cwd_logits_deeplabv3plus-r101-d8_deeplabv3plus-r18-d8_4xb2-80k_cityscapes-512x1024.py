# CWD on the logits: DeepLabV3+ R101-d8 -> DeepLabV3+ R18-d8, Cityscapes
# 512x1024, 80k.
#
# MMRazor's CWD logits settings for PSPNet (tau 1, loss weight 5;
# configs/_base_/distillers/cwd_logits.py) on this pair, with the student's
# own data, crops and schedule. Both DeepLabV3+ heads give 19-class logits at
# 1/4 resolution.
_base_ = [
    'mmseg::deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py',  # noqa: E501
    '../_base_/distillers/cwd_logits.py'
]

# mmseg model zoo `deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024`, 80.97
# mIoU.
teacher_ckpt = 'https://download.openmmlab.com/mmsegmentation/v0.5/deeplabv3plus/deeplabv3plus_r101-d8_512x1024_80k_cityscapes/deeplabv3plus_r101-d8_512x1024_80k_cityscapes_20200606_114143-068fcfe9.pth'  # noqa: E501

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='MMAKDSingleTeacherDistill',
    architecture=dict(
        cfg_path=  # noqa: E251
        'mmseg::deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py',  # noqa: E501
        pretrained=False),
    # `pretrained=False`: teacher_ckpt supplies every teacher weight.
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=_base_.cwd_logits_distiller)

# Validation of the student (and the teacher), as MMRazor's recipe.
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
