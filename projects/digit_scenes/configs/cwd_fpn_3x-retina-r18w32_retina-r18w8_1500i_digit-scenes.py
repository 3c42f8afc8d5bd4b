# CWD on the three FPN levels from three teachers: RetinaNet R18-w32 trained
# with seeds 0, 1 and 2 (teachers t0, t1, t2) -> R18-w8, on Digit Scenes.
# The one-teacher recipe beside this file (its student, data, schedule and
# CWD) with mmakd's MultiFpnTeacherDistill: each teacher runs its backbone
# and neck, each has its own FPN recorder, and each level has one CWD loss
# per teacher at a third of the one-teacher weight (10 / 3), so the losses
# sum to the one-teacher scale: the student learns the teachers' average.
_base_ = './cwd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py'

# The teacher config beside this file as tools/train.py trains it (t0),
# and trained with `--cfg-options randomness.seed=<k> --work-dir
# work_dirs/retinanet_r18-w32_fpn_1500i_digit-scenes_seed<k>`
# (t1, t2). The demo passes
# the teachers it trained (model.teachers.t<k>.ckpt=PATH).
teacher_ckpts = dict(
    t0=_base_.teacher_ckpt,
    t1='work_dirs/retinanet_r18-w32_fpn_1500i_digit-scenes_seed1/iter_1500.pth',  # noqa: E501
    t2='work_dirs/retinanet_r18-w32_fpn_1500i_digit-scenes_seed2/iter_1500.pth',  # noqa: E501
)
_cwd = _base_.model.distiller
_levels = range(3)
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='MultiFpnTeacherDistill',
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
            f'loss_cwd_fpn{i}_{name}': dict(
                _cwd.distill_losses[f'loss_cwd_fpn{i}'],
                loss_weight=_cwd.distill_losses[f'loss_cwd_fpn{i}'].loss_weight
                / len(teacher_ckpts))
            for i in _levels for name in teacher_ckpts
        },
        loss_forward_mappings={
            f'loss_cwd_fpn{i}_{name}': dict(
                preds_S=_cwd.loss_forward_mappings[f'loss_cwd_fpn{i}'].preds_S,
                preds_T=dict(
                    _cwd.loss_forward_mappings[f'loss_cwd_fpn{i}'].preds_T,
                    teacher=name))
            for i in _levels for name in teacher_ckpts
        }))
del _cwd, _levels
