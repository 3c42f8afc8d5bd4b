# MasKD + Avatars as the AKD release's MasKD recipe (Gumpest/AvatarKD,
# akd_maskd_retinanet_x101-retinanet_r50_coco.py, which despite its name
# uses the R101 teacher and tokens): one dropout Avatar (p 0.1) of each neck
# output, student and Avatar standardised per channel before the masks
# (`uncertainty='release'`); the `retina_reg` terms stay plain L1.
# The release's config does not initialise the student from the teacher;
# this child keeps its baseline's initialisation so that the two differ by
# the Avatars only. For the release's exact setting add
#   --cfg-options model.architecture.neck.init_cfg=None \
#       model.architecture.bbox_head.init_cfg=None
_base_ = [
    './maskd_fpn_retina-r101_retina-r50_2x_coco.py',
    '../_base_/akd.py'
]

model = dict(
    distiller=dict(
        type='AvatarDistiller',
        uncertainty='release',
        exclude_losses=_base_.maskd_head_losses['retina-r101']))
custom_hooks = _base_.akd_hooks
