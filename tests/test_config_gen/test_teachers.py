"""The recipe generator with several teachers: the written config, its
per-teacher recorders and connectors, and bad input."""
import os.path as osp

import pytest
from helpers import REPO_ROOT, load_tool
from mmengine.config import Config

from mmakd.config_gen.writer import teachers_distiller_cfg

DIGITS = osp.join(REPO_ROOT, 'projects', 'digit_scenes', 'configs')
DET_T = osp.join(DIGITS, 'retinanet_r18-w32_fpn_1500i_digit-scenes.py')
DET_S = osp.join(DIGITS, 'retinanet_r18-w8_fpn_1500i_digit-scenes.py')
SEG_T = osp.join(DIGITS, 'pspnet_r18-w32-d4_1500i_digit-scenes.py')
SEG_S = osp.join(DIGITS, 'pspnet_r18-w8-d4_1500i_digit-scenes.py')
THREE = {
    'det': osp.join(DIGITS, 'cwd_fpn_3x-retina-r18w32_retina-r18w8_1500i_'
                    'digit-scenes.py'),
    'seg': osp.join(DIGITS, 'cwd_logits_3x-pspnet-r18w32_pspnet-r18w8_'
                    '1500i_digit-scenes.py'),
}

tool = load_tool('misc/distill_config.py')


def run(capsys, *argv: str) -> tuple:
    code = tool.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_three_teachers_reproduce_the_hand_written_recipe(
        capsys, tmp_path, task):
    """--teacher three times: the Digit Scenes 3-teacher CWD recipe's
    algorithm, distiller and teachers (their checkpoints as given)."""
    teacher, student = (DET_T, DET_S) if task == 'det' else (SEG_T, SEG_S)
    out = tmp_path / 'three.py'
    ckpts = [f'/ckpt/t{i}.pth' for i in range(3)]
    code, stdout, err = run(
        capsys, '--teacher', teacher, '--teacher', teacher, '--teacher',
        teacher, '--student', student, '--method', 'cwd', '--out', out,
        *[arg for ckpt in ckpts for arg in ('--teacher-ckpt', ckpt)])
    assert code == 0, err
    assert 'pair(s) of teacher t2 at' in stdout
    assert 'verified: one training step' in stdout
    generated = Config.fromfile(str(out))
    written = Config.fromfile(THREE[task])
    assert generated.model.type == written.model.type
    assert generated.model.distiller.to_dict() == \
        written.model.distiller.to_dict()
    assert {n: t.ckpt for n, t in generated.model.teachers.items()} == {
        f't{i}': ckpt
        for i, ckpt in enumerate(ckpts)
    }
    assert '# 3 teachers: each loss is one teacher\'s, at 1/3 of the ' \
        "method's weight." in out.read_text()


def test_teachers_with_their_own_recorders_and_connectors():
    """Teachers whose records differ keep their recorders in their
    ``teachers`` entries; connectors and losses are per teacher."""
    record = dict(from_student=False, recorder='feat')

    def distiller(source, connector=None):
        mapping = dict(
            preds_S=dict(from_student=True, recorder='s',
                         **({'connector': 'c'} if connector else {})),
            preds_T=dict(record))
        return dict(
            type='ConfigurableDistiller',
            student_recorders=dict(s=dict(type='ModuleOutputs', source='x')),
            teacher_recorders=dict(
                feat=dict(type='ModuleOutputs', source=source)),
            **({'connectors': dict(c=connector)} if connector else {}),
            distill_losses=dict(loss_pkd=dict(type='PKDLoss', loss_weight=6)),
            loss_forward_mappings=dict(loss_pkd=mapping))

    merged, own = teachers_distiller_cfg(
        dict(t0=distiller('neck.a'), t1=distiller('neck.b', dict(type='C'))),
        'pkd')
    assert own == {
        't0': dict(feat=dict(type='ModuleOutputs', source='neck.a')),
        't1': dict(feat=dict(type='ModuleOutputs', source='neck.b'))
    }
    assert merged['teacher_recorders'] == {}
    assert merged['connectors'] == dict(c_t1=dict(type='C'))
    assert merged['distill_losses'] == {
        'loss_pkd_t0': dict(type='PKDLoss', loss_weight=3.0),
        'loss_pkd_t1': dict(type='PKDLoss', loss_weight=3.0)
    }
    assert merged['loss_forward_mappings']['loss_pkd_t1'] == dict(
        preds_S=dict(from_student=True, recorder='s', connector='c_t1'),
        preds_T=dict(from_student=False, recorder='feat', teacher='t1'))


@pytest.mark.parametrize('extra,message', [
    (['--teacher', DET_T, '--teacher-ckpt', 'a.pth'],
     "--teacher-ckpt: expected one per --teacher (2, in the same order), "
     "but got 1: ['a.pth']"),
    (['--teacher', 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'],
     '--teacher: the teachers need different input sizes (H, W) (--teacher '
     f't0={DET_T}: (64, 64), --teacher t1=mmdet::retinanet/retinanet_r50_'
     'fpn_1x_coco.py: (800, 1333))'),
    (['--teacher', SEG_T], f'--teacher t1={SEG_T} is a seg model and '
     '--student a det model'),
])
def test_bad_teachers_are_named_and_nothing_is_written(
        capsys, tmp_path, extra, message):
    out = tmp_path / 'out.py'
    code, _, err = run(capsys, '--teacher', DET_T, *extra, '--student',
                       DET_S, '--method', 'cwd', '--out', out)
    assert code == 2 and message in err, err
    assert not out.exists()
