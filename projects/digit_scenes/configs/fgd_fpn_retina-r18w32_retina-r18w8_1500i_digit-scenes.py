# FGD on the three FPN levels, RetinaNet R18-w32 -> R18-w8, Digit Scenes.
# Teacher, student, data and schedule are those of the CWD config beside this
# file; only the distiller differs. FGD's hyper-parameters are the published
# RetinaNet ones (yzd-v/FGD: temp 0.5, alpha 1e-3, beta 5e-4, gamma 5e-4,
# lambda 5e-6). FGD reads the ground truth from the student's own
# `loss(batch_inputs, batch_data_samples)` call.
_base_ = './cwd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py'

_levels = range(3)
model = dict(
    distiller=dict(
        _delete_=True,
        type='ConfigurableDistiller',
        student_recorders=dict(
            fpn=dict(type='ModuleOutputs', source='neck'),
            gt=dict(
                type='MethodInputs',
                source='mmdet.models.detectors.SingleStageDetector.loss')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={
            f'loss_fgd_fpn{i}': dict(
                type='MMAKDFGDLoss',
                in_channels=64,
                temp=0.5,
                alpha_fgd=0.001,
                beta_fgd=0.0005,
                gamma_fgd=0.0005,
                lambda_fgd=0.000005)
            for i in _levels
        },
        loss_forward_mappings={
            f'loss_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i),
                data_samples=dict(
                    from_student=True, recorder='gt', data_idx=1))
            for i in _levels
        }))
del _levels
