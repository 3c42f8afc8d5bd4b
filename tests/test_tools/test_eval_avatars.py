"""tools/analysis_tools/eval_avatars.py on the Digit Scenes validation set:
the rows, the table, the JSON, strength 0 and copies of one teacher, bad
input.

Bit-for-bit equality of the predictions (strength 0, N copies of a model)
is tested in tests/test_evaluation/test_avatar_ensemble.py; here the
metrics of those rows equal the teacher's exactly.
"""
import json
import os.path as osp
import shutil
from typing import Dict, List

import pytest
import torch
from helpers import REPO_ROOT, load_tool

from mmakd.evaluation import build_teacher
from mmakd.utils import load_config

tool = load_tool('analysis_tools/eval_avatars.py')

DIGITS = osp.join(REPO_ROOT, 'projects', 'digit_scenes', 'configs')
AKD_DET = osp.join(DIGITS, 'akd-cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                   'digit-scenes.py')
CWD_SEG = osp.join(DIGITS, 'cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_'
                   'digit-scenes.py')
PLAIN_DET = osp.join(DIGITS, 'retinanet_r18-w8_fpn_1500i_digit-scenes.py')
COCO = ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75',
        'coco/bbox_mAP_s', 'coco/bbox_mAP_m', 'coco/bbox_mAP_l']


def _data_options(root: str, task: str) -> List[str]:
    options = [f'val_dataloader.dataset.data_root={root}/']
    if task == 'det':
        options.append(
            f'val_evaluator.ann_file={root}/annotations/instances_val.json')
    return options


def _teacher_ckpt(config: str, path, seed: int = 0) -> str:
    """A freshly built teacher of ``config``, its weights perturbed so that
    it predicts something (the heads start at constant biases)."""
    torch.manual_seed(seed)
    teacher, _ = build_teacher(load_config(config))
    with torch.no_grad():
        for value in teacher.state_dict().values():
            if value.is_floating_point() and value.dim() == 1:
                value.add_(torch.randn(value.shape) * 0.1)
    torch.save(dict(state_dict=teacher.state_dict(), meta=dict()), path)
    return str(path)


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory) -> Dict[str, str]:
    folder = tmp_path_factory.mktemp('teachers')
    return dict(
        det=_teacher_ckpt(AKD_DET, folder / 'retinanet.pth'),
        det_b=_teacher_ckpt(AKD_DET, folder / 'retinanet_b.pth', seed=1),
        seg=_teacher_ckpt(CWD_SEG, folder / 'pspnet.pth'))


def _run(argv: List[str], capsys) -> str:
    tool.main(argv)
    return capsys.readouterr().out


def _table(out: str) -> List[List[str]]:
    """The markdown table's cells, header first, rule skipped."""
    lines = [line for line in out.splitlines() if line.startswith('| ')]
    return [[cell.strip() for cell in line.strip('|').split('|')]
            for line in lines]


def test_det_rows_table_and_json(ckpts, data_root, tmp_path, capsys):
    out_json = tmp_path / 'results' / 'det.json'
    out = _run([
        AKD_DET, ckpts['det'], '--num-avatars', '3', '2', '--teacher-ckpts',
        ckpts['det_b'], '--out', str(out_json), '--cfg-options',
        *_data_options(data_root, 'det')
    ], capsys)
    table = _table(out)
    assert table[0] == ['model', 'members'] + COCO + ['seconds']
    assert [row[:2] for row in table[1:]] == [
        ['teacher', '1'], ['1 Avatar', '1'], ['2-Avatar ensemble', '2'],
        ['3-Avatar ensemble', '3'], ['teacher ensemble (2)', '2']]
    assert '4/4' in out  # the progress bar, over the 4 validation scenes
    results = json.loads(out_json.read_text())
    assert results['points'] == {'fpn': 'neck'}
    assert results['perturbation'] == [dict(type='ElementDropout', p=0.1)]
    assert results['checkpoint_kind'] == 'teacher'
    assert results['teacher_ckpts'] == [ckpts['det_b']]
    assert (results['num_avatars'], results['samples']) == ([2, 3], 4)
    assert results['metrics'] == COCO
    rows = results['rows']
    assert [r['model'] for r in rows] == [row[0] for row in table[1:]]
    for row, cells in zip(rows, table[1:]):
        assert list(row['metrics']) == COCO
        assert cells[2:-1] == [f'{row["metrics"][k]:.4g}' for k in COCO]
        assert row['seconds'] > 0 and cells[-1] == f'{row["seconds"]:.2f}'
    assert results['table'] in out


def test_seg_strength_zero_and_teacher_copies_equal_the_teacher(
        ckpts, data_root, tmp_path, capsys):
    """A distillation checkpoint as CKPT; the same teacher again as an
    extra checkpoint; at strength 0 every row is the teacher."""
    distill = tmp_path / 'distill.pth'
    state = torch.load(ckpts['seg'])['state_dict']
    torch.save(dict(state_dict={
        **{f'teacher.{k}': v for k, v in state.items()},
        'architecture.decode_head.conv_seg.bias': torch.zeros(11)
    }), distill)
    copy = tmp_path / 'copy.pth'
    shutil.copy(ckpts['seg'], copy)
    out_json = tmp_path / 'seg.json'
    out = _run([
        CWD_SEG, str(distill), '--num-avatars', '2', '--strength', '0',
        '--teacher-ckpts', str(copy), str(copy), '--out', str(out_json),
        '--seed', '3', '--cfg-options', *_data_options(data_root, 'seg')
    ], capsys)
    results = json.loads(out_json.read_text())
    assert results['checkpoint_kind'] == 'distillation'
    assert results['points'] == {'logits': 'decode_head.conv_seg'}
    assert results['perturbation'] == [dict(type='ElementDropout', p=0.0)]
    assert results['metrics'] == ['aAcc', 'mIoU', 'mAcc']
    names = [row['model'] for row in results['rows']]
    assert names == ['teacher', '1 Avatar', '2-Avatar ensemble',
                     'teacher ensemble (3)']
    teacher = results['rows'][0]['metrics']
    assert all(row['metrics'] == teacher for row in results['rows'])
    assert [row[0] for row in _table(out)[1:]] == names


def test_seg_avatars_change_the_predictions(ckpts, data_root, tmp_path,
                                            capsys):
    out_json = tmp_path / 'seg.json'
    _run([
        CWD_SEG, ckpts['seg'], '--num-avatars', '2', '--perturbation',
        'ChannelDropout', '--strength', '0.5', '--out', str(out_json),
        '--cfg-options', *_data_options(data_root, 'seg')
    ], capsys)
    results = json.loads(out_json.read_text())
    assert results['perturbation'] == [dict(type='ChannelDropout', p=0.5)]
    rows = results['rows']
    assert rows[1]['metrics'] != rows[0]['metrics']


def _fails(argv: List[str], tmp_path, capsys, *messages: str) -> str:
    out_json = tmp_path / 'out' / 'results.json'
    with pytest.raises(SystemExit) as exc:
        tool.main(argv + ['--out', str(out_json)])
    assert exc.value.code == 2
    error = capsys.readouterr().err
    for message in messages:
        assert message in error
    assert not osp.exists(out_json.parent), 'nothing may be written'
    return error


def _child_config(tmp_path, name: str, base: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(f'_base_ = {base!r}\n{text}')
    return str(path)


def test_a_config_without_distilled_points(ckpts, tmp_path, capsys):
    config = _child_config(
        tmp_path, 'no_points.py', AKD_DET,
        'model = dict(distiller=dict(teacher_recorders=dict(_delete_=True)'
        '))\n')
    _fails([config, ckpts['det']], tmp_path, capsys,
           '`model.distiller.teacher_recorders` must name the distilled '
           'points', 'but got {}',
           "could be recorded: ['backbone.layer1', 'backbone.layer2', "
           "'backbone.layer3', 'neck', 'neck.lateral_convs.0.conv'",
           '--cfg-options model.distiller.teacher_recorders.point.type='
           'ModuleOutputs model.distiller.teacher_recorders.point.source=')
    # A config that does not distil at all.
    _fails([PLAIN_DET, ckpts['det']], tmp_path, capsys,
           'CONFIG must be a distillation config with `model.teacher` and '
           '`model.distiller`', "('RetinaNet') has no `model.teacher` or "
           '`model.distiller`')


def test_num_avatars_below_one(ckpts, tmp_path, capsys):
    _fails([AKD_DET, ckpts['det'], '--num-avatars', '4', '0'], tmp_path,
           capsys, '`--num-avatars` must be ints >= 1, but got [4, 0]')


def test_an_extra_teacher_of_another_config(ckpts, tmp_path, capsys):
    _fails([AKD_DET, ckpts['det'], '--teacher-ckpts', ckpts['seg']],
           tmp_path, capsys,
           "`--teacher-ckpts` must be a checkpoint of the config's teacher "
           f"(RetinaNet), but {ckpts['seg']!r} does not fit it",
           'missing in checkpoint: neck.')
    _fails([AKD_DET, str(tmp_path / 'missing.pth')], tmp_path, capsys,
           "`CKPT` must be a checkpoint of the config's teacher, but",
           "missing.pth' does not exist")


def test_an_unsupported_head(ckpts, tmp_path, capsys):
    config = _child_config(
        tmp_path, 'fovea.py', AKD_DET,
        'model = dict(teacher=dict(bbox_head=dict(_delete_=True, '
        "type='FoveaHead', num_classes=10, in_channels=64, "
        'strides=[4, 8, 16], base_edge_list=[8, 16, 32], '
        'scale_ranges=((1, 16), (8, 32), (16, 64)))))\n')
    _fails([config, ckpts['det']], tmp_path, capsys,
           'the teacher RetinaNet has the head FoveaHead, which is not '
           'supported', 'expected mmdet single-stage detectors with a '
           'RetinaHead, FCOSHead, GFLHead, ATSSHead, RTMDetHead, YOLOXHead')


def test_an_unknown_point_and_a_bad_perturbation(ckpts, tmp_path, capsys):
    _fails([AKD_DET, ckpts['det'], '--points', 'neck'], tmp_path, capsys,
           "`--points` must be teacher recorders of the config's distiller "
           "['fpn'], but got ['neck']")
    _fails([AKD_DET, ckpts['det'], '--strength', '1'], tmp_path, capsys,
           '`--strength`: ElementDropout: `p` must be in [0, 1), but got '
           '1.0')
    _fails([AKD_DET, ckpts['det'], '--perturbation', 'Dropout'], tmp_path,
           capsys, "`--perturbation` must be one of ['ChannelDropout', "
           "'ElementDropout', 'GaussianNoise', 'SpatialMask'], but got "
           "'Dropout'")


AKD_3X_SEG = osp.join(
    DIGITS, 'akd-cwd_logits_3x-pspnet-r18w32_pspnet-r18w8_1500i_'
    'digit-scenes.py')


def test_one_teacher_of_several(ckpts, data_root, tmp_path, capsys):
    """--teacher reads a multi-teacher config as that teacher's: the same
    rows as the one-teacher config with the same checkpoint."""
    rows = {}
    for config, extra in ((CWD_SEG, []), (AKD_3X_SEG, ['--teacher', 't1'])):
        out_json = tmp_path / f'{len(extra)}.json'
        _run([
            config, ckpts['seg'], '--num-avatars', '2', '--out',
            str(out_json), *extra, '--cfg-options',
            *_data_options(data_root, 'seg')
        ], capsys)
        rows[config] = [(r['model'], r['metrics'])
                        for r in json.loads(out_json.read_text())['rows']]
    assert rows[CWD_SEG] == rows[AKD_3X_SEG]
    for extra, message in (
        ([], "`--teacher` must be one of the teachers ['t0', 't1', 't2'] "
         'of CONFIG, but got None'),
        (['--teacher', 't7'], "`--teacher` must be one of the teachers "
         "['t0', 't1', 't2'] of CONFIG, but got 't7'")):
        with pytest.raises(SystemExit) as error:
            tool.main([AKD_3X_SEG, ckpts['seg'], *extra])
        assert error.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main([CWD_SEG, ckpts['seg'], '--teacher', 't1'])
    assert '`--teacher t1` is for a config with `model.teachers`' in \
        capsys.readouterr().err
