# FGD (Focal and Global Knowledge Distillation, Yang et al., CVPR 2022) on
# the FPN of an mmdet detector, as the authors' release (yzd-v/FGD) distils
# it: one FGDLoss per level on the output of the student's and the teacher's
# `neck.fpn_convs.<i>.conv`, plus the batch's ground truth that FGD's masks
# need, which is the student's own: the `data_samples` argument of its
# forward, recorded by `gt`.
#
# `fgd_fpn_distillers` holds that ConfigurableDistiller with each of the
# release's two settings (alpha, beta, gamma, lambda in `_settings` below,
# the temperature both share in `_fgd_distiller`: the one place mmakd
# writes them):
# - `retinanet`: the 5 levels of RetinaNet's FPN (P3-P7), from the authors'
#   RetinaNet configs;
# - `faster_rcnn`: the 4 levels P2-P5 of a two-stage detector's FPN (P6 is a
#   max pool and is not distilled), from their Faster R-CNN configs.
# A recipe lists this file after its student's mmdet config in `_base_` and
# sets `model.distiller = _base_.fgd_fpn_distillers.<setting>`;
# tools/misc/distill_config.py (`--method fgd`) reads its losses and `gt`
# recorder from here.
custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
# The teacher's parameters get no gradient.
find_unused_parameters = True

_settings = dict(
    retinanet=dict(
        levels=[0, 1, 2, 3, 4],
        loss=dict(
            alpha_fgd=0.001,
            beta_fgd=0.0005,
            gamma_fgd=0.0005,
            lambda_fgd=0.000005)),
    faster_rcnn=dict(
        levels=[0, 1, 2, 3],
        loss=dict(
            alpha_fgd=0.00005,
            beta_fgd=0.000025,
            gamma_fgd=0.00005,
            lambda_fgd=0.0000005)))


def _fgd_distiller(levels, loss):
    recorders = {
        f'fpn{i}': dict(
            type='ModuleOutputs', source=f'neck.fpn_convs.{i}.conv')
        for i in levels
    }
    return dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            **recorders,
            # forward(inputs, data_samples, mode): data_idx 1 is the ground
            # truth of the batch (any mmdet detector).
            gt=dict(
                type='MethodInputs',
                source='mmdet.models.detectors.BaseDetector.forward')),
        teacher_recorders=recorders,
        distill_losses={
            f'loss_fgd_fpn{i}': dict(
                type='MMAKDFGDLoss', in_channels=256, temp=0.5, **loss)
            for i in levels
        },
        loss_forward_mappings={
            f'loss_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder=f'fpn{i}'),
                preds_T=dict(from_student=False, recorder=f'fpn{i}'),
                data_samples=dict(
                    from_student=True, recorder='gt', data_idx=1))
            for i in levels
        })


fgd_fpn_distillers = {
    name: _fgd_distiller(**setting)
    for name, setting in _settings.items()
}
del _settings
