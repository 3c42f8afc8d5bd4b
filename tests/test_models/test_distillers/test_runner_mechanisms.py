"""AKD under mmengine's own machinery, launched as the tools launch it.

Each cell trains the toy distillation (``tests/data/toy_kd.py``) with the
base distiller and with ``AvatarDistiller``, through ``tools/train.py`` or
``tools/dist_train.sh`` (2 CPU processes, gloo), then resumes the run from
its middle checkpoint into a new work dir; the resumed run's last
checkpoint must equal the uninterrupted run's bit for bit (weights, EMA
weights, optimizer), its losses be finite, and validation run at the end.
``AvatarProbeHook`` (``tests/data/mmakd_toys.py``) records what the Avatars
drew on each rank and iteration, and a digest of torch's global random
state.
"""
import json
import math
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
import torch
from helpers import TOY_KD_CONFIG, free_port, run_tool

from mmakd.models.avatars.avatar_random import stream_seed

ITERS = 4
EMA = dict(
    type='EMAHook',
    ema_type='mmdet.ExpMomentumEMA',
    momentum=0.0002,
    update_buffers=True,
    priority=49)
#: Per cell: ranks, extra config lines, extra custom hooks.
CELLS = {
    'two_ranks': (2, '', []),
    'two_ranks_ema': (2, '', [EMA]),
    'two_ranks_find_unused_parameters':
    (2, 'find_unused_parameters = True\n', []),
    'compile': (1, 'compile = True\n', []),
}


def write_config(directory: Path,
                 akd: bool,
                 hooks: Sequence[Dict] = (),
                 extra: str = '',
                 tag: str = 'run') -> str:
    """A config on toy_kd.py: the AKD twin, custom hooks and the probe."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f'{"akd" if akd else "base"}_{tag}.py'
    lines = [f'_base_ = [{TOY_KD_CONFIG!r}]']
    if akd:
        lines.append("model = dict(distiller=dict(type='AvatarDistiller'))")
    probe = dict(type='AvatarProbeHook', tag=tag)
    lines.append(f'custom_hooks = {[*hooks, probe]!r}')
    path.write_text('\n'.join(lines) + '\n' + extra)
    return str(path)


def launch(config: str,
           work_dir: Path,
           ranks: int,
           resume: Optional[Path] = None,
           options: Sequence[str] = (),
           check: bool = True) -> str:
    """``tools/train.py`` (1 rank) or ``tools/dist_train.sh`` (2 ranks)."""
    if ranks == 1:
        cmd = [sys.executable, 'tools/train.py', config]
    else:
        cmd = ['bash', 'tools/dist_train.sh', config, str(ranks)]
    cmd += ['--work-dir', str(work_dir)]
    if resume is not None:
        cmd += ['--resume', str(resume)]
    if options:
        cmd += ['--cfg-options', *options]
    return run_tool(
        cmd, check=check, timeout=600, PORT=free_port(), OMP_NUM_THREADS='1')


def probe(work_dir: Path, rank: int, tag: str = 'run') -> Dict:
    return json.loads((work_dir / f'probe_{tag}_rank{rank}.json').read_text())


def checkpoint(path: Path) -> Dict:
    return torch.load(path, map_location='cpu', weights_only=False)


def assert_same_checkpoint(full: Path, resumed: Path) -> None:
    """Weights, EMA weights and optimizer state equal bit for bit."""
    a, b = checkpoint(full), checkpoint(resumed)
    for part in ('state_dict', 'ema_state_dict'):
        assert (part in a) == (part in b), part
        if part not in a:
            continue
        assert a[part].keys() == b[part].keys(), part
        for key, value in a[part].items():
            assert isinstance(value, torch.Tensor), f'{part}.{key}'
            assert torch.equal(value, b[part][key]), f'{part}.{key}'
    for index, state in a['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(value, b['optimizer']['state'][index][name])


def train_and_resume(root: Path, ranks: int, akd: bool, hooks: List[Dict],
                     extra: str) -> Dict[str, List[Dict]]:
    """Trains ITERS iterations, then resumes from the middle; returns the
    probes of both runs per rank."""
    name = 'akd' if akd else 'base'
    config = write_config(root / 'configs', akd, hooks, extra)
    full, resumed = root / name / 'full', root / name / 'resumed'
    output = launch(config, full, ranks)
    assert f'Iter(train) [{ITERS}/{ITERS}]' in output
    assert 'toy/accuracy' in output  # validation ran at the end
    output = launch(config, resumed, ranks, resume=full / 'iter_2.pth')
    assert 'resumed epoch: 0, iter: 2' in output
    assert_same_checkpoint(full / f'iter_{ITERS}.pth',
                           resumed / f'iter_{ITERS}.pth')
    probes = dict(
        full=[probe(full, r) for r in range(ranks)],
        resumed=[probe(resumed, r) for r in range(ranks)])
    for run in probes.values():
        for rank_probe in run:
            losses = [it['loss'] for it in rank_probe['iters'].values()]
            assert losses and all(math.isfinite(v) for v in losses)
    return probes


@pytest.mark.slow
@pytest.mark.parametrize('cell', list(CELLS))
def test_akd_and_base_train_and_resume(tmp_path, cell):
    ranks, extra, hooks = CELLS[cell]
    base = train_and_resume(tmp_path, ranks, False, hooks, extra)
    akd = train_and_resume(tmp_path, ranks, True, hooks, extra)
    for rank in range(ranks):
        full, resumed = akd['full'][rank], akd['resumed'][rank]
        assert sorted(full['avatars'], key=int) == [
            str(i) for i in range(ITERS)
        ]
        # The resumed run draws, on each rank, what the full run drew.
        for it in ('2', '3'):
            assert resumed['avatars'][it] == full['avatars'][it], (rank, it)
        # Avatars leave torch's global stream alone: the base run and its
        # AKD twin move it the same way.
        base_rng = {
            it: v['global_rng']
            for it, v in base['full'][rank]['iters'].items()
        }
        assert base_rng == {
            it: v['global_rng']
            for it, v in full['iters'].items()
        }
    if ranks == 2:
        zero, one = (akd['full'][r]['avatars'] for r in (0, 1))
        for it in zero:
            assert zero[it][0]['seed'] != one[it][0]['seed']
            assert zero[it][0]['mask'] != one[it][0]['mask']


@pytest.mark.slow
def test_stop_distill_hook_stops_avatars_and_their_statistics(tmp_path):
    """MMRazor's StopDistillHook (epoch-based): after ``stop_epoch`` no
    Avatar is drawn and no Avatar statistic is logged, also after resume."""
    per_epoch = 8  # 64 samples, batch 8
    extra = ("train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', "
             'max_epochs=2, val_interval=2)\n'
             'default_hooks = dict(checkpoint=dict(interval=1, '
             'by_epoch=True))\nlog_processor = dict(by_epoch=True)\n')
    hooks = [dict(type='StopDistillHook', stop_epoch=1)]
    for akd in (False, True):
        config = write_config(tmp_path / 'configs', akd, hooks, extra)
        name = 'akd' if akd else 'base'
        full, resumed = tmp_path / name / 'full', tmp_path / name / 'resumed'
        output = launch(config, full, 1)
        assert 'Distillation has been stopped!' in output
        assert 'toy/accuracy' in output
        launch(config, resumed, 1, resume=full / 'epoch_1.pth')
        assert_same_checkpoint(full / 'epoch_2.pth', resumed / 'epoch_2.pth')
        if not akd:
            continue
        drawn = probe(full, 0)['avatars']
        assert sorted(map(int, drawn)) == list(range(per_epoch))
        assert probe(resumed, 0)['avatars'] == {}
        # The statistics were logged in the first epoch only.
        for run in (full, resumed):
            scalars = checkpoint(run / 'epoch_2.pth')['message_hub'][
                'log_scalars']
            for key in ('train/distill.akd_sigma.kl',
                        'train/distill.loss_kl'):
                assert len(scalars[key].data[0]) == per_epoch, (run, key)
            assert len(scalars['train/loss'].data[0]) == 2 * per_epoch


@pytest.mark.slow
def test_load_from_a_base_kd_checkpoint_then_resume(tmp_path):
    base_config = write_config(tmp_path / 'configs', False)
    launch(base_config, tmp_path / 'base', 1)
    config = write_config(tmp_path / 'configs', True)
    full, resumed = tmp_path / 'akd' / 'full', tmp_path / 'akd' / 'resumed'
    output = launch(
        config, full, 1, options=[f'load_from={tmp_path}/base/iter_4.pth'])
    assert 'Load checkpoint from' in output
    assert not re.search(r'missing keys|unexpected key', output), output
    launch(config, resumed, 1, resume=full / 'iter_2.pth')
    assert_same_checkpoint(full / 'iter_4.pth', resumed / 'iter_4.pth')


def test_dist_train_sh_with_avatars_draws_per_rank(tmp_path):
    """2 ranks with mmengine's default ``diff_rank_seed=False``: every rank
    starts from the same global random state, yet draws its own Avatars."""
    config = write_config(tmp_path, True)
    output = launch(config, tmp_path / 'run', 2)
    assert f'Iter(train) [{ITERS}/{ITERS}]' in output
    zero, one = (probe(tmp_path / 'run', r) for r in (0, 1))
    assert zero['iters'].keys() == one['iters'].keys()
    for it, drawn in zero['avatars'].items():
        assert drawn[0]['mask'] != one['avatars'][it][0]['mask'], it
        # The draws follow the run's seed, the rank and the iteration.
        for rank, rank_probe in enumerate((zero, one)):
            assert rank_probe['avatars'][it][0]['seed'] == stream_seed(
                rank_probe['seed'], rank, int(it), 'avatar_generator')


def test_resume_without_a_seed_continues_the_avatars(tmp_path):
    """``randomness.seed=None``: mmengine re-seeds from the checkpoint's seed
    on resume, and so the Avatars continue their stream; train.py says that
    the data order does not."""
    config = write_config(tmp_path, True)
    options = ['randomness.seed=None']
    first, resumed = tmp_path / 'first', tmp_path / 'resumed'
    launch(config, first, 1, options=options + ['train_cfg.max_iters=2'])
    output = launch(config, resumed, 1, resume=first / 'iter_2.pth',
                    options=options)
    assert 'Resuming a config without `randomness.seed`' in output
    seed = checkpoint(first / 'iter_2.pth')['meta']['seed']
    assert probe(first, 0)['seed'] == seed
    drawn = probe(resumed, 0)['avatars']
    assert sorted(drawn, key=int) == ['2', '3']
    for it, calls in drawn.items():
        assert calls[0]['seed'] == stream_seed(seed, 0, int(it),
                                               'avatar_generator')


@pytest.mark.slow
def test_nan_on_one_rank_stops_every_rank_with_the_same_error(tmp_path):
    hooks = [
        dict(type='PoisonTeacherHook', rank=1, iteration=2),
        dict(type='DistillLossCheckHook')
    ]
    config = write_config(tmp_path, True, hooks)
    output = launch(
        config,
        tmp_path / 'run',
        2,
        options=['env_cfg.dist_cfg.timeout=60'],
        check=False)
    errors = re.findall(r'FloatingPointError: (DistillLossCheckHook: .*)',
                        output)
    assert len(errors) >= 2, output[-5000:]
    assert len(set(errors)) == 1, errors
    assert 'at iteration 2 on rank 1' in errors[0]
    assert "record 'logits'" in errors[0]
