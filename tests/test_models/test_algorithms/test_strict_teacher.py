"""Strict ``teacher_ckpt``: a checkpoint that does not fit the teacher, or
that cannot be read, is an error naming the file and what is wrong, unless
``teacher_ckpt_strict=False``."""
from pathlib import Path

import pytest
import torch
from helpers import assert_weights, build_toy_distill

from mmakd.models import TeacherCheckpointMismatch, TeacherCheckpointUnreadable
from mmakd.models.algorithms.strict_teacher import load_teacher_checkpoint


def _state_dict(path: Path) -> dict:
    return torch.load(path, map_location='cpu')['state_dict']


def _edited_checkpoint(src: Path, dst: Path, drop=(), add=()) -> str:
    checkpoint = torch.load(src)
    for key in drop:
        del checkpoint['state_dict'][key]
    for key in add:
        checkpoint['state_dict'][key] = torch.zeros(3)
    torch.save(checkpoint, dst)
    return str(dst)


@pytest.mark.parametrize(
    'algorithm', ['MMAKDSingleTeacherDistill', 'MMAKDFpnTeacherDistill'])
def test_teacher_of_another_shape_is_refused(teacher_ckpt, algorithm):
    with pytest.raises(TeacherCheckpointMismatch) as error:
        build_toy_distill(
            str(teacher_ckpt),
            teacher=dict(type='ToyNet', channels=8),
            type=algorithm)
    message = str(error.value)
    assert str(teacher_ckpt) in message
    for key in ('backbone.0.weight', 'backbone.0.bias', 'head.weight'):
        assert f'shape of {key}: checkpoint' in message
    assert 'shape of head.bias' not in message  # same shape in both
    assert 'teacher_ckpt_strict=False' in message


@pytest.mark.parametrize('drop,add,expected', [
    (['head.bias'], [], 'missing in checkpoint: head.bias'),
    ([], ['extra.weight'], 'unexpected in checkpoint: extra.weight'),
])
def test_teacher_ckpt_with_wrong_keys_is_refused(teacher_ckpt, tmp_path, drop,
                                                 add, expected):
    path = _edited_checkpoint(teacher_ckpt, tmp_path / 'edited.pth', drop, add)
    with pytest.raises(TeacherCheckpointMismatch, match=expected) as error:
        build_toy_distill(path)
    assert '(1 problems)' in str(error.value)


def test_teacher_ckpt_strict_false_loads_a_partial_teacher(
        teacher_ckpt, tmp_path):
    path = _edited_checkpoint(
        teacher_ckpt,
        tmp_path / 'partial.pth',
        drop=['head.bias'],
        add=['extra.weight'])
    weights = _state_dict(teacher_ckpt)
    model = build_toy_distill(path, teacher_ckpt_strict=False)
    loaded = [k for k in model.teacher.state_dict() if k != 'head.bias']
    assert_weights(model.teacher, weights, loaded)
    assert not torch.equal(model.teacher.head.bias, weights['head.bias'])


def test_missing_batchnorm_counters_are_not_a_mismatch(tmp_path):
    """Older checkpoints lack ``num_batches_tracked``; mmengine ignores it."""
    teacher = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1),
                                  torch.nn.BatchNorm2d(4))
    state = {
        k: torch.randn_like(v.float())
        for k, v in teacher.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }
    state['1.running_var'] = state['1.running_var'].abs()
    path = tmp_path / 'old.pth'
    torch.save(dict(state_dict=state), path)
    load_teacher_checkpoint(teacher, str(path))
    assert torch.equal(teacher[0].weight, state['0.weight'])
    assert torch.equal(teacher[1].running_mean, state['1.running_mean'])
    del state['1.running_mean']
    torch.save(dict(state_dict=state), path)
    with pytest.raises(TeacherCheckpointMismatch,
                       match=r'missing in checkpoint: 1\.running_mean'):
        load_teacher_checkpoint(teacher, str(path))


@pytest.mark.parametrize('content', [b'', b'not a checkpoint', b'PK\x03\x04'])
def test_an_unreadable_teacher_ckpt_is_named(tmp_path, content):
    path = tmp_path / 'teacher.pth'
    path.write_bytes(content)
    with pytest.raises(TeacherCheckpointUnreadable,
                       match=f"teacher_ckpt='{path}' cannot be read"):
        build_toy_distill(str(path))


def test_a_teacher_ckpt_that_is_not_a_dict_is_named(tmp_path):
    path = tmp_path / 'teacher.pth'
    torch.save([torch.zeros(1)], path)
    with pytest.raises(TeacherCheckpointUnreadable, match='holds a list'):
        build_toy_distill(str(path))


def test_a_missing_teacher_ckpt_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        build_toy_distill(str(tmp_path / 'absent.pth'))
