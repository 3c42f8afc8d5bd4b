_base_ = [
    './cwd_logits_segformer-mit-b5_segformer-mit-b0_8xb1-160k_cityscapes-1024x1024.py',  # noqa: E501
    '../_base_/akd.py'
]

model = dict(distiller=dict(type='AvatarDistiller'))
custom_hooks = _base_.akd_hooks
