# MasKD + Avatars in the AKD release's form (see
# akd-maskd_fpn_retina-r101_retina-r50_2x_coco.py): the AKD paper's best
# RetinaNet result (41.5 AP) is with this teacher.
_base_ = [
    './maskd_fpn_retina-x101_retina-r50_2x_coco.py',
    '../_base_/akd.py'
]

model = dict(
    distiller=dict(
        type='AvatarDistiller',
        uncertainty='release',
        exclude_losses=_base_.maskd_head_losses['retina-x101']))
custom_hooks = _base_.akd_hooks
