# The toy distillation of toy_kd.py from two teachers (ToyNet 16 and 8
# channels), with Avatars per teacher, AKD's hooks and the student's head
# bias inherited from the wide teacher:
#   PYTHONPATH=tests/data PORT=29555 bash tools/dist_train.sh \
#       tests/data/toy_multi_kd.py 2
_base_ = ['./toy_kd.py', '../../configs/_base_/akd.py']

kl = dict(type='KLDivergence', tau=2, loss_weight=0.5)
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='MultiTeacherDistill',
    architecture=dict(type='ToyNet', channels=4),
    teachers=dict(
        wide=dict(type='ToyNet', channels=16),
        narrow=dict(type='ToyNet', channels=8)),
    inherit=['head'],
    inherit_from='wide',
    distiller=dict(
        type='AvatarDistiller',
        avatar_generator=dict(num_avatars=2),
        student_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head')),
        distill_losses=dict(loss_kl_wide=kl, loss_kl_narrow=kl),
        loss_forward_mappings=dict(
            loss_kl_wide=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(
                    from_student=False, recorder='logits', teacher='wide')),
            loss_kl_narrow=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(
                    from_student=False, recorder='logits',
                    teacher='narrow')))))
custom_hooks = _base_.akd_hooks
