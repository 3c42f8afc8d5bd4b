"""MultiTeacherDistill: one teacher is SingleTeacherDistill, recorders and
Avatars per teacher, checkpoints per teacher, and the errors of bad
``teachers`` and mappings."""
import copy
import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT, TESTS_DATA, build_model, toy_config
from mmengine.config import Config

from mmakd.models.algorithms import TeacherCheckpointMismatch, TeacherGroup

TOY_MULTI = osp.join(TESTS_DATA, 'toy_multi_kd.py')
WIDE = dict(type='ToyNet', channels=16)
KL = dict(type='KLDivergence', tau=2, loss_weight=1)
DIGITS = osp.join(REPO_ROOT, 'projects', 'digit_scenes', 'configs')


def toy_batch(model, num: int = 8):
    """A preprocessed training batch of the toy data."""
    from mmakd_toys import ToyPatterns
    data = [ToyPatterns(num_samples=num)[i] for i in range(num)]
    return model.data_preprocessor(
        dict(
            inputs=[d['inputs'] for d in data],
            data_samples=[d['data_samples'] for d in data]), True)


def multi_cfg(teachers=None, mappings=None, **model):
    """tests/data/toy_multi_kd.py's model with ConfigurableDistiller, its
    parts replaced."""
    cfg = Config.fromfile(TOY_MULTI)
    cfg.model.pop('inherit')
    cfg.model.pop('inherit_from')
    cfg.model.distiller.pop('avatar_generator')
    cfg.model.distiller.type = 'ConfigurableDistiller'
    if teachers is not None:
        cfg.model.teachers = teachers
    if mappings is not None:
        cfg.model.distiller.loss_forward_mappings = mappings
        cfg.model.distiller.distill_losses = {name: KL for name in mappings}
    cfg.model.update(model)
    return cfg


def kl_mapping(**teacher):
    return dict(
        preds_S=dict(from_student=True, recorder='logits'),
        preds_T=dict(from_student=False, recorder='logits', **teacher))


@pytest.mark.parametrize('distiller',
                         ['ConfigurableDistiller', 'AvatarDistiller'])
def test_one_teacher_gives_the_losses_of_single_teacher_distill(distiller):
    single_cfg = toy_config(**{'model.distiller.type': distiller})
    single = build_model(single_cfg)
    model = copy.deepcopy(single_cfg.model)
    for key in ('teacher', 'teacher_ckpt'):
        model.pop(key)
    model.update(type='MultiTeacherDistill', teachers=dict(only=WIDE))
    multi = build_model(Config(dict(toy_config(), model=model)))
    state = {
        k.replace('teacher.', 'teacher.only.', 1): v
        for k, v in single.state_dict().items()
    }
    multi.load_state_dict(state)
    batch = toy_batch(single)
    for _ in range(2):  # two calls: the Avatar streams move on alike
        expected = single(**batch, mode='loss')
        got = multi(**batch, mode='loss')
        assert sorted(got) == sorted(expected)
        for key in expected:
            assert torch.equal(got[key], expected[key]), key


def test_each_teacher_has_its_recorders_and_avatars():
    """Three copies of one teacher: one record each; with Avatars each
    teacher's loss differs (its own draws), without they are equal."""
    mappings = {f'loss_{t}': kl_mapping(teacher=t) for t in 'abc'}
    cfg = multi_cfg(teachers=dict(a=WIDE, b=WIDE, c=WIDE), mappings=mappings)
    losses = {}
    for distiller in ('ConfigurableDistiller', 'AvatarDistiller'):
        cfg.model.distiller.type = distiller
        model = build_model(cfg)
        cfg.model.distiller.avatar_generator = dict(num_avatars=2)
        for name in 'bc':
            model.teacher[name].load_state_dict(
                model.teacher['a'].state_dict())
        recorders = model.distiller.teacher_recorders.recorders
        assert {
            n: r.source
            for n, r in recorders.items()
        } == {
            'a.logits': 'a.head',
            'b.logits': 'b.head',
            'c.logits': 'c.head'
        }
        out = model(**toy_batch(model), mode='loss')
        losses[distiller] = [out[f'distill.loss_{t}'] for t in 'abc']
    plain, avatars = losses['ConfigurableDistiller'], losses['AvatarDistiller']
    assert torch.equal(plain[0], plain[1]) and torch.equal(plain[0], plain[2])
    assert len({float(v) for v in avatars}) == 3


def test_a_teacher_may_have_its_own_recorders():
    teachers = dict(
        wide=WIDE,
        narrow=dict(
            type='ToyNet',
            channels=8,
            recorders=dict(
                logits=dict(type='ModuleOutputs', source='backbone.3'))))
    model = build_model(multi_cfg(teachers=teachers))
    sources = {
        n: r.source
        for n, r in model.distiller.teacher_recorders.recorders.items()
    }
    assert sources == {
        'wide.logits': 'wide.head',
        'narrow.logits': 'narrow.backbone.3'
    }


def test_teacher_checkpoints_load_strictly_by_name(teacher_ckpt):
    """teacher_ckpt is a ToyNet 16: it fits `wide`, not `narrow`."""
    cfg = multi_cfg()
    cfg.model.teachers.wide.ckpt = str(teacher_ckpt)
    model = build_model(cfg)
    state = torch.load(teacher_ckpt, map_location='cpu')['state_dict']
    assert torch.equal(model.teacher['wide'].head.weight, state['head.weight'])
    cfg.model.teachers.narrow.ckpt = str(teacher_ckpt)
    with pytest.raises(
            TeacherCheckpointMismatch,
            match=r'teachers.narrow.ckpt=.* does not match the teacher '
            r'(.|\n)*`teachers.narrow.ckpt_strict=False`'):
        build_model(cfg)


def test_inherit_from_a_named_teacher():
    cfg = multi_cfg(inherit=['head'], inherit_from='narrow')
    cfg.model.architecture.channels = 8
    model = build_model(cfg)
    assert model.inherit_plan.copied == ['head.weight', 'head.bias']
    assert torch.equal(model.student.head.weight,
                       model.teacher['narrow'].head.weight)


def test_the_teachers_make_no_prediction():
    model = build_model(multi_cfg())
    assert isinstance(model.teacher, TeacherGroup)
    with pytest.raises(RuntimeError, match=r"val_cfg=dict\(type='ValLoop'\)"):
        model.teacher(torch.zeros(1, 3, 8, 8), mode='predict')


def _seg_teacher_at(tmp_path, crop):
    path = tmp_path / f'teacher_{crop}.py'
    path.write_text(f"_base_ = '{DIGITS}/pspnet_r18-w32-d4_1500i_digit-"
                    f"scenes.py'\ncrop_size = ({crop}, {crop})\n")
    return dict(cfg_path=str(path))


@pytest.mark.parametrize('change,error,match', [
    (dict(mappings=dict(loss_x=kl_mapping(teacher='x101'))), ValueError,
     r"loss_forward_mappings.loss_x.preds_T names teacher 'x101', which is "
     r"not in `teachers`; expected one of \['wide', 'narrow'\]"),
    (dict(mappings=dict(loss_x=kl_mapping())), ValueError,
     r'loss_forward_mappings.loss_x.preds_T reads a teacher record but '
     r"names no `teacher`; expected one of \['wide', 'narrow'\]"),
    (dict(
        mappings=dict(
            loss_x=dict(
                preds_S=dict(
                    from_student=True, recorder='logits', teacher='wide'),
                preds_T=dict(
                    from_student=False, recorder='logits', teacher='wide')))),
     ValueError,
     r"loss_x.preds_S is a student record \(from_student=True\) but names "
     r"teacher 'wide'"),
    (dict(
        mappings=dict(
            loss_x=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(
                    from_student=False, recorder='feat', teacher='wide')))),
     ValueError,
     r"reads recorder 'feat' of teacher 'wide', which has the recorders "
     r"\['logits'\]"),
    (dict(teachers={}), TypeError, r'`teachers` must be a non-empty dict'),
    (dict(teachers={'a.b': WIDE}), ValueError,
     r"teacher name 'a.b' in `teachers`: expected a Python identifier"),
    (dict(teacher=WIDE), TypeError, r'`teacher` is for one teacher'),
    (dict(inherit_from='x101'), ValueError,
     r"`inherit_from`='x101' is not in `teachers`"),
    (dict(inherit=True), ValueError,
     r"`inherit` with several teachers needs `inherit_from`, one of "
     r"\['wide', 'narrow'\]"),
])
def test_bad_teachers_and_mappings_are_named(change, error, match):
    mappings = change.pop('mappings', None)
    cfg = multi_cfg(mappings=mappings, **change)
    with pytest.raises(error, match=match):
        build_model(cfg)


def test_call_recorders_are_refused_with_several_teachers():
    cfg = multi_cfg()
    cfg.model.distiller.teacher_recorders = dict(
        logits=dict(type='MethodOutputs', source='mmakd_toys.ToyNet.forward'))
    with pytest.raises(
            ValueError,
            match=r"distiller.teacher_recorders\["
            r"'logits'\]: with several teachers.*'MethodOutputs'"):
        build_model(cfg)


def test_teachers_of_different_input_sizes_are_refused(tmp_path):
    seg = Config.fromfile(
        osp.join(
            DIGITS, 'cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_'
            'digit-scenes.py'))
    model = copy.deepcopy(seg.model)
    model.pop('teacher')
    model.pop('teacher_ckpt', None)
    model.update(
        type='MultiTeacherDistill',
        teachers=dict(
            small=_seg_teacher_at(tmp_path, 64),
            large=_seg_teacher_at(tmp_path, 96)))
    for mapping in model.distiller.loss_forward_mappings.values():
        for record in mapping.values():
            if record.get('from_student') is False:
                record['teacher'] = 'small'
    with pytest.raises(
            ValueError,
            match=r'the teachers need different input sizes \(H, W\) '
            r'\(teachers.small: \(64, 64\), teachers.large: \(96, 96\)\)'):
        build_model(Config(dict(seg.to_dict(), model=model)))
