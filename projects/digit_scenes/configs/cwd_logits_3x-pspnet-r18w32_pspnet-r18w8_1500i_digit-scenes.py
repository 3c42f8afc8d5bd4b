# CWD on the logits from three teachers: PSPNet R18-w32 trained with seeds
# 0, 1 and 2 (teachers t0, t1, t2) -> R18-w8, on Digit Scenes. The
# one-teacher recipe beside this file (its student, data, schedule and CWD)
# with mmakd's MultiTeacherDistill: each teacher has its own logits
# recorder and its own CWD loss at a third of the one-teacher weight
# (5 / 3), so the losses sum to the one-teacher scale: the student learns
# the teachers' average.
_base_ = './cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_digit-scenes.py'

# The teacher config beside this file as tools/train.py trains it (t0),
# and trained with `--cfg-options randomness.seed=<k> --work-dir
# work_dirs/pspnet_r18-w32-d4_1500i_digit-scenes_seed<k>`
# (t1, t2). The demo passes
# the teachers it trained (model.teachers.t<k>.ckpt=PATH).
teacher_ckpts = dict(
    t0=_base_.teacher_ckpt,
    t1='work_dirs/pspnet_r18-w32-d4_1500i_digit-scenes_seed1/iter_1500.pth',
    t2='work_dirs/pspnet_r18-w32-d4_1500i_digit-scenes_seed2/iter_1500.pth',
)
_cwd = _base_.model.distiller
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='MultiTeacherDistill',
    architecture=_base_.model.architecture,
    teachers={
        name: dict(_base_.model.teacher, ckpt=ckpt)
        for name, ckpt in teacher_ckpts.items()
    },
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=_cwd.student_recorders,
        teacher_recorders=_cwd.teacher_recorders,
        distill_losses={
            f'loss_cwd_{name}': dict(
                _cwd.distill_losses.loss_cwd,
                loss_weight=_cwd.distill_losses.loss_cwd.loss_weight /
                len(teacher_ckpts))
            for name in teacher_ckpts
        },
        loss_forward_mappings={
            f'loss_cwd_{name}': dict(
                preds_S=_cwd.loss_forward_mappings.loss_cwd.preds_S,
                preds_T=dict(
                    _cwd.loss_forward_mappings.loss_cwd.preds_T,
                    teacher=name))
            for name in teacher_ckpts
        }))
del _cwd
