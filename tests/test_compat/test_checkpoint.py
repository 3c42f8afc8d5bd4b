"""Checkpoints written by mmengine's Runner load back on torch >= 2.6.

A short Runner training of a tiny teacher (``ToyNet``, generated data) writes
a checkpoint; it must load as a distillation ``teacher_ckpt``, as a Runner's
``load_from`` and through ``resume``, with torch's ``weights_only`` still on:
it is mmakd's narrow allow-list that admits the Runner's objects, and
anything outside it stays refused. The list is registered on torch >= 2.6
only, where ``weights_only=True`` is the default.
"""
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from helpers import (assert_weights, build_toy_distill, skip_on_onedl_forks,
                     toy_teacher_runner_cfg)
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmakd.models import TeacherCheckpointUnreadable
from mmakd_compat import report
from mmakd_compat.checkpoint import (NAME, allow_mmengine_checkpoints,
                                     needs_allow_list, parse_version)


def _state_dict(path: Path) -> dict:
    return torch.load(path, map_location='cpu')['state_dict']


# ------------------------------------------------ the three ways to load it


def test_runner_checkpoint_loads_as_teacher_ckpt(teacher_ckpt):
    weights = _state_dict(teacher_ckpt)
    model = build_toy_distill(str(teacher_ckpt))
    # init_weights() ran after loading and must not have overwritten it.
    assert_weights(model.teacher, weights)
    assert set(model.teacher.state_dict()) == set(weights)


def test_runner_checkpoint_loads_as_load_from(teacher_ckpt, tmp_path):
    runner = Runner.from_cfg(
        toy_teacher_runner_cfg(tmp_path, load_from=str(teacher_ckpt)))
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.load_or_resume()
    assert_weights(runner.model, _state_dict(teacher_ckpt))
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
        toy_teacher_runner_cfg(
            tmp_path, resume=True, **{'train_cfg.max_iters': 4}))
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


@skip_on_onedl_forks(
    'onedl-mmengine loads a checkpoint that weights_only=True refuses with '
    'weights_only=False after a warning')
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
        build_toy_distill(str(arbitrary))
    assert isinstance(error.value.__cause__, pickle.UnpicklingError)

    getattr_abuse = tmp_path / 'getattr.pth'
    torch.save(dict(x=_GetattrAbuse()), getattr_abuse)
    with pytest.raises((RuntimeError, pickle.UnpicklingError),
                       match="getattr.*'__init__'"):
        torch.load(getattr_abuse, weights_only=True)


# --------------------------------------------- only where torch needs it


@pytest.mark.parametrize('version, parsed, needed', [
    ('2.6.0+cu124', (2, 6), True),
    ('2.13.0+cpu', (2, 13), True),
    ('2.10.1', (2, 10), True),
    ('2.6.0a0+git1a2b3c4', (2, 6), True),
    ('3.0.0', (3, 0), True),
    ('2.5.1', (2, 5), False),
    ('2.4.0+cu121', (2, 4), False),
    ('1.13.1', (1, 13), False),
    ('unknown', None, False),
    ('', None, False),
])
def test_torch_versions_are_read(version, parsed, needed):
    assert parse_version(version) == parsed
    assert needs_allow_list(version) is needed


def test_the_installed_torch_version_is_read():
    assert parse_version(torch.__version__) is not None


@pytest.fixture
def recorded(monkeypatch) -> list:
    """What reaches ``torch.serialization.add_safe_globals``, which is
    replaced by a recorder (torch's own list is left alone)."""
    calls = []
    monkeypatch.setattr(torch.serialization, 'add_safe_globals',
                        calls.append)
    return calls


@pytest.mark.parametrize('version, registered', [('2.4.1', 0), ('2.5.1', 0),
                                                 ('2.6.0', 1),
                                                 ('2.13.0+cpu', 1)])
def test_the_allow_list_is_registered_from_torch_2_6(monkeypatch, recorded,
                                                     version, registered):
    """torch 2.4 and 2.5 load with weights_only=False by default and do not
    understand the list's (obj, 'name') entries: nothing is registered."""
    monkeypatch.setattr(torch, '__version__', version)
    allow_mmengine_checkpoints()
    assert len(recorded) == registered
    state = {s.name: s.state for s in report()}[NAME]
    assert state == ('applied' if registered else 'not needed')


def test_a_torch_without_the_allow_list_api_is_one_warning(monkeypatch):
    monkeypatch.setattr(torch, '__version__', '2.6.0')
    monkeypatch.delattr(torch.serialization, 'add_safe_globals')
    with pytest.warns(RuntimeWarning, match="'torch-weights-only'"):
        allow_mmengine_checkpoints()
    monkeypatch.undo()
    allow_mmengine_checkpoints()
