_base_ = [
    './cwd_logits_deeplabv3plus-r101-d8_deeplabv3plus-r18-d8_4xb2-80k_cityscapes-512x1024.py',  # noqa: E501
    '../_base_/akd.py'
]

model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
