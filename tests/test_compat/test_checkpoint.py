"""Checkpoints written by mmengine's Runner load back on torch >= 2.6.

A short Runner training of a tiny teacher (``ToyNet``, generated data) writes
a checkpoint; it must load as a distillation ``teacher_ckpt``, as a Runner's
``load_from`` and through ``resume``, with torch's ``weights_only`` still on:
it is mmakd's narrow allow-list that admits the Runner's objects, and
anything outside it stays refused. A teacher checkpoint that does not fit
the teacher is an error that names the keys, unless
``teacher_ckpt_strict=False``.
"""
import pickle
import shutil
import uuid
from pathlib import Path

import pytest
import torch
from helpers import build_model, toy_config
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmakd.models import TeacherCheckpointMismatch, TeacherCheckpointUnreadable

TEACHER = dict(type='ToyNet', channels=16)


def _runner_cfg(work_dir: Path, **overrides):
    cfg = toy_config(**{'train_cfg.max_iters': 2, **overrides})
    cfg.model = dict(TEACHER)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = uuid.uuid4().hex  # Runner globals are per name
    cfg.log_level = 'WARNING'
    return cfg


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory) -> Path:
    """Trains the teacher 2 iterations; CheckpointHook saves iter_2.pth."""
    work_dir = tmp_path_factory.mktemp('teacher')
    Runner.from_cfg(_runner_cfg(work_dir)).train()
    path = work_dir / 'iter_2.pth'
    assert path.is_file()
    return path


def _state_dict(path: Path) -> dict:
    return torch.load(path, map_location='cpu')['state_dict']


def _distill(teacher_ckpt, teacher=TEACHER, **kwargs):
    """Builds the toy SingleTeacherDistill (and runs its init_weights)."""
    cfg = toy_config()
    cfg.model.update(teacher=teacher, teacher_ckpt=teacher_ckpt, **kwargs)
    return build_model(cfg)


def _assert_weights(module, state_dict, keys=None) -> None:
    own = module.state_dict()
    for key in keys or own:
        assert torch.equal(own[key], state_dict[key]), key


# ------------------------------------------------ the three ways to load it


def test_runner_checkpoint_loads_as_teacher_ckpt(teacher_ckpt):
    weights = _state_dict(teacher_ckpt)
    model = _distill(str(teacher_ckpt))
    # init_weights() ran after loading and must not have overwritten it.
    _assert_weights(model.teacher, weights)
    assert set(model.teacher.state_dict()) == set(weights)


def test_runner_checkpoint_loads_as_load_from(teacher_ckpt, tmp_path):
    runner = Runner.from_cfg(
        _runner_cfg(tmp_path, load_from=str(teacher_ckpt)))
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.load_or_resume()
    _assert_weights(runner.model, _state_dict(teacher_ckpt))
    assert any(not torch.equal(v,
                               runner.model.state_dict()[k])
               for k, v in before.items())
    assert runner.iter == 0  # load_from loads weights, it does not resume


class _Spy(Hook):
    """Records the weights at the start of training and the iterations."""

    def __init__(self) -> None:
        self.iters = []
        self.start_weights = None

    def before_train(self, runner) -> None:
        self.start_weights = {
            k: v.clone()
            for k, v in runner.model.state_dict().items()
        }

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self.iters.append(runner.iter)


def test_runner_resumes_from_its_checkpoint(teacher_ckpt, tmp_path):
    shutil.copy(teacher_ckpt, tmp_path / 'iter_2.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    runner = Runner.from_cfg(
        _runner_cfg(tmp_path, resume=True, **{'train_cfg.max_iters': 4}))
    spy = _Spy()
    runner.register_hook(spy)
    runner.train()
    # Training started from iter_2.pth's weights and ran only the 3rd and
    # 4th iterations (runner.iter counts from 0 inside the hook).
    for key, value in _state_dict(teacher_ckpt).items():
        assert torch.equal(spy.start_weights[key], value), key
    assert spy.iters == [2, 3]
    assert (tmp_path / 'iter_4.pth').is_file()
    assert torch.load(tmp_path / 'iter_4.pth')['meta']['iter'] == 4


# ------------------------------------------------------- weights_only stays on


def test_runner_checkpoint_needs_mmakd_allow_list(teacher_ckpt):
    """weights_only=True loads it with mmakd's globals, and only with them."""
    checkpoint = torch.load(teacher_ckpt, weights_only=True)
    assert isinstance(checkpoint['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)

    allowed = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError):
            torch.load(teacher_ckpt, weights_only=True)
    finally:
        torch.serialization.add_safe_globals(allowed)


class _Arbitrary:
    """A class outside the allow-list."""


class _GetattrAbuse:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_objects_outside_the_allow_list_are_refused(teacher_ckpt, tmp_path):
    arbitrary = tmp_path / 'arbitrary.pth'
    torch.save(
        dict(state_dict=_state_dict(teacher_ckpt), x=_Arbitrary()), arbitrary)
    with pytest.raises(pickle.UnpicklingError, match='_Arbitrary'):
        torch.load(arbitrary, weights_only=True)
    # mmengine's loader (load_from, resume, teacher_ckpt) keeps the default.
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(arbitrary), map_location='cpu')
    with pytest.raises(TeacherCheckpointUnreadable,
                       match='weights_only=True') as error:
        _distill(str(arbitrary))
    assert isinstance(error.value.__cause__, pickle.UnpicklingError)

    getattr_abuse = tmp_path / 'getattr.pth'
    torch.save(dict(x=_GetattrAbuse()), getattr_abuse)
    with pytest.raises((RuntimeError, pickle.UnpicklingError),
                       match="getattr.*'__init__'"):
        torch.load(getattr_abuse, weights_only=True)


# ------------------------------------------------ teacher checkpoint mismatch


def _edited_checkpoint(src: Path, dst: Path, drop=(), add=()) -> str:
    checkpoint = torch.load(src)
    for key in drop:
        del checkpoint['state_dict'][key]
    for key in add:
        checkpoint['state_dict'][key] = torch.zeros(3)
    torch.save(checkpoint, dst)
    return str(dst)


@pytest.mark.parametrize('algorithm',
                         ['SingleTeacherDistill', 'FpnTeacherDistill'])
def test_teacher_of_another_shape_is_refused(teacher_ckpt, algorithm):
    with pytest.raises(TeacherCheckpointMismatch) as error:
        _distill(
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
        _distill(path)
    assert '(1 problems)' in str(error.value)


def test_teacher_ckpt_strict_false_loads_a_partial_teacher(
        teacher_ckpt, tmp_path):
    path = _edited_checkpoint(
        teacher_ckpt,
        tmp_path / 'partial.pth',
        drop=['head.bias'],
        add=['extra.weight'])
    weights = _state_dict(teacher_ckpt)
    model = _distill(path, teacher_ckpt_strict=False)
    loaded = [k for k in model.teacher.state_dict() if k != 'head.bias']
    _assert_weights(model.teacher, weights, loaded)
    assert not torch.equal(model.teacher.head.bias, weights['head.bias'])


def test_missing_batchnorm_counters_are_not_a_mismatch(tmp_path):
    """Older checkpoints lack ``num_batches_tracked``; mmengine ignores it."""
    from mmakd.models.algorithms.strict_teacher import load_teacher_checkpoint
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
        _distill(str(path))


def test_a_teacher_ckpt_that_is_not_a_dict_is_named(tmp_path):
    path = tmp_path / 'teacher.pth'
    torch.save([torch.zeros(1)], path)
    with pytest.raises(TeacherCheckpointUnreadable, match='holds a list'):
        _distill(str(path))


def test_a_missing_teacher_ckpt_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        _distill(str(tmp_path / 'absent.pth'))
