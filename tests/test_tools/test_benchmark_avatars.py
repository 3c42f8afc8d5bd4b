"""The overhead benchmark: ratios per round and their median,
an impossible order reported, det and seg recipes."""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
import benchmark_avatars  # noqa: E402


def _rounds(times):
    """Rounds of step times (ms) for the variants, in order."""
    names = ['student alone', 'base KD', 'AKD (paper)']
    return [{n: dict(step_ms=t) for n, t in zip(names, ts)} for ts in times]


def test_ratios_are_per_round_with_their_median():
    results = benchmark_avatars.summarise(
        _rounds([(70, 100, 103), (80, 110, 110), (60, 90, 99)]))
    akd = results['AKD (paper)']
    assert akd['ratios'] == pytest.approx([1.03, 1.0, 1.1])
    assert akd['ratio'] == pytest.approx(1.03)
    assert akd['step_ms'] == 103
    assert benchmark_avatars.order_problems(results) == []


@pytest.mark.parametrize('times,problem', [
    ([(120, 100, 105), (115, 100, 101)], 'student alone slower'),
    ([(70, 100, 90), (70, 100, 95)], 'AKD (paper) faster'),
])
def test_an_impossible_order_is_reported(times, problem):
    problems = benchmark_avatars.order_problems(
        benchmark_avatars.summarise(_rounds(times)))
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_one_round_reports_no_order_problem():
    results = benchmark_avatars.summarise(_rounds([(120, 100, 90)]))
    assert benchmark_avatars.order_problems(results) == []


def test_seg_batch_fits_a_segmentor():
    args = argparse.Namespace(size=[32, 48], batch_size=2)
    batch = benchmark_avatars.seg_batch(args, num_classes=5)
    assert [tuple(x.shape) for x in batch['inputs']] == [(3, 32, 48)] * 2
    labels = batch['data_samples'][0].gt_sem_seg.data
    assert labels.shape == (1, 32, 48) and int(labels.max()) < 5


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'cwd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py',
    'cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_digit-scenes.py'
])
def test_the_benchmark_runs_on_det_and_seg_recipes(config, tmp_path):
    out = tmp_path / 'bench.json'
    proc = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark_avatars.py',
        osp.join('projects', 'digit_scenes', 'configs', config), '--size',
        '64', '64', '--iters', '2', '--warmup', '1', '--rounds', '2',
        '--modes', 'paper', 'none', '--out',
        str(out)
    ],
                          cwd=REPO_ROOT,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'},
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())['results']
    assert list(results) == [
        'student alone', 'base KD', 'AKD (paper)', 'AKD (none)'
    ]
    for row in results.values():
        assert len(row['ratios']) == 2 and row['step_ms'] > 0
    assert results['base KD']['ratios'] == [1.0, 1.0]
    assert 'distill_ms' in results['AKD (none)']
    assert '| AKD (paper) |' in proc.stdout


@pytest.mark.parametrize('interval, expected', [
    (3, [False, False, True, False, False, True]),
    (0, [None] * 6),  # no AvatarStatsHook: the hub is left alone
])
def test_logged_steps_mark_every_interval_th_step(interval, expected):
    from mmengine.logging import MessageHub

    from mmakd.engine.hooks.avatar_stats_hook import LOGGED_ITER_KEY
    hub = MessageHub.get_instance(f'bench-{interval}')
    seen = []
    step = benchmark_avatars.logged_steps(
        lambda: seen.append(hub.get_info(LOGGED_ITER_KEY)), interval)
    for _ in range(6):
        step()
    assert seen == expected


def test_akd_steps_run_the_check_hook():
    """An AKD step is timed with DistillLossCheckHook's check, as the AKD
    configs run it after each iteration."""
    import torch
    from test_models.test_distillers.test_avatar_distiller import Setup
    setup = Setup()
    model = argparse.Namespace(distiller=setup.distiller)
    losses = setup.losses()
    outputs = {f'distill.{k}': v for k, v in losses.items()}
    step = benchmark_avatars.checked_steps(lambda: outputs, model)
    assert step() is outputs  # clean: passes
    outputs['distill.loss_cwd'] = torch.tensor(float('nan'))
    with pytest.raises(FloatingPointError, match="loss 'loss_cwd' is nan"):
        step()
