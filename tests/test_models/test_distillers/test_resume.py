"""Resuming an AvatarDistiller run is bit-identical to not stopping (CPU).

The toy distillation (``tests/data/toy_kd.py`` with ``AvatarDistiller``)
trains 2k iterations in one run, and k iterations then k more with
``resume=True`` (what ``tools/train.py --resume`` sets); weights, optimizer
state and the last logged losses must be equal bit for bit. k = 4 stays
inside the first pass over the data (8 iterations); k = 8 resumes exactly
where the data loader starts its second pass.
"""
import uuid
from typing import Optional

import pytest
import torch
from helpers import toy_config
from mmengine.runner import Runner


def train(work_dir: str, max_iters: int, mode: str, checkpoint_every: int,
          resume_from: Optional[str] = None) -> Runner:
    cfg = toy_config(**{
        'train_cfg.max_iters': max_iters,
        'default_hooks.checkpoint.interval': checkpoint_every,
    })
    cfg.model.distiller.update(type='AvatarDistiller', uncertainty=mode)
    cfg.work_dir = work_dir
    cfg.experiment_name = uuid.uuid4().hex
    cfg.log_level = 'WARNING'
    for part in ('val', 'test'):  # no evaluation: not what is compared
        cfg[f'{part}_dataloader'] = cfg[f'{part}_cfg'] = None
        cfg[f'{part}_evaluator'] = None
    cfg.train_cfg.pop('val_interval')
    if resume_from is not None:
        cfg.resume = True
        cfg.load_from = resume_from
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def assert_same_run(full: Runner, resumed: Runner) -> None:
    state, state_resumed = (r.model.state_dict() for r in (full, resumed))
    assert state.keys() == state_resumed.keys()
    for key in state:
        assert torch.equal(state[key], state_resumed[key]), key
    optim, optim_resumed = (r.optim_wrapper.state_dict()['state']
                            for r in (full, resumed))
    assert optim.keys() == optim_resumed.keys() and optim
    for index in optim:
        for name, value in optim[index].items():
            assert torch.equal(value, optim_resumed[index][name]), name
    for key in ('train/loss', 'train/distill.loss_kl'):
        last = [
            r.message_hub.get_scalar(key).current() for r in (full, resumed)
        ]
        assert last[0] == last[1], key


def run_and_resume(tmp_path, mode: str, k: int) -> None:
    full = train(str(tmp_path / 'full'), 2 * k, mode, k)
    first = train(str(tmp_path / 'split'), k, mode, k)
    assert first.iter == k
    resumed = train(
        str(tmp_path / 'split'), 2 * k, mode, k,
        resume_from=str(tmp_path / 'split' / f'iter_{k}.pth'))
    assert resumed.iter == full.iter == 2 * k
    assert_same_run(full, resumed)


@pytest.mark.parametrize('mode', ['paper', 'official', 'none'])
def test_resume_is_bit_identical(tmp_path, mode):
    run_and_resume(tmp_path, mode, k=4)


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['paper', 'official', 'none'])
def test_resume_at_a_new_pass_over_the_data_is_bit_identical(tmp_path, mode):
    run_and_resume(tmp_path, mode, k=8)


def test_avatars_not_keyed_on_the_iteration_resume_differs(
        tmp_path, monkeypatch):
    """The test can fail: Avatars drawn by call count (which restarts at 0
    in the resumed run) instead of by iteration make the runs differ."""
    from mmakd.models.distillers import avatar_distiller
    monkeypatch.setattr(avatar_distiller, 'runner_iteration',
                        lambda training: None)
    full = train(str(tmp_path / 'full'), 8, 'none', 4)
    train(str(tmp_path / 'split'), 4, 'none', 4)
    resumed = train(
        str(tmp_path / 'split'), 8, 'none', 4,
        resume_from=str(tmp_path / 'split' / 'iter_4.pth'))
    with pytest.raises(AssertionError):
        assert_same_run(full, resumed)
