"""tools/akd_demo.py: its options, its quiet output, and end to end."""
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
from helpers import REPO_ROOT
from mmengine.config import Config
from mmrazor.registry import MODELS

sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
import akd_demo  # noqa: E402


def run_demo(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, 'tools/akd_demo.py', *args],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    work_dir, data_root = tmp_path / 'work', tmp_path / 'data'
    tiny = ('--quick', '--iters', '2', '--teacher-iters', '2', '--work-dir',
            str(work_dir), '--data-root', str(data_root))
    proc = run_demo(*tiny, '--num-scenes', '24', '8')
    out = proc.stdout
    for task, metric in (('det', 'mAP'), ('seg', 'mIoU')):
        assert f'| {task} | {metric} | s/iter | runs |' in out
        assert f'{task}: one seed per method' in out
    for method in ('teacher', 'no KD', 'CWD', 'CWD + AKD'):
        assert out.count(f'| {method} |') == 2  # one row per task
    # Quiet: one line per run (8 runs), no log, warning or config dump.
    runs = [line for line in out.splitlines() if re.match(
        r'\[akd_demo [\d:]+\] (det|seg) \d/8 ', line)]
    assert len(runs) == 8
    assert all(re.search(r'(left|all runs done)$', line) for line in runs)
    assert len(out.splitlines()) < 40, out
    assert 'pkg_resources' not in out + proc.stderr
    assert 'mmengine - INFO' not in out + proc.stderr
    # The full output of each run is in its work dir.
    logs = list(work_dir.glob('*/*/**/console.log'))
    assert len(logs) == 8
    assert all('mmengine - INFO' in p.read_text() for p in logs)
    assert 'pkg_resources' not in ''.join(p.read_text() for p in logs)
    for name in ('curves_quick.png', 'akd_stats_det_quick.png',
                 'akd_stats_seg_quick.png'):
        assert osp.exists(work_dir / name), name
    assert (work_dir / 'results_quick.md').read_text().strip() in out
    assert osp.exists(data_root / 'annotations' / 'instances_val.json')
    # The students were distilled from the teacher the demo trained.
    teacher = json.loads(
        (work_dir / 'det' / 'teacher_2i_quick' / 'result.json').read_text())
    assert osp.exists(teacher['checkpoint'])
    # A second run reuses every trained model instead of training again.
    again = run_demo(*tiny, '--tasks', 'det').stdout
    assert 'training' not in again
    # The teacher and each of the demo's students.
    assert again.count('reusing') == 1 + len(akd_demo.DEMO_METHODS)


def test_unknown_method_is_an_error_that_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        akd_demo.parse_args(['--tasks', 'seg', '--methods', 'CWD+AKD'])
    err = capsys.readouterr().err
    assert "--methods: unknown ['CWD+AKD']" in err
    assert "'CWD + AKD'" in err
    # FGD exists for detection only.
    with pytest.raises(SystemExit):
        akd_demo.parse_args(['--tasks', 'seg', '--methods', 'FGD'])
    assert akd_demo.parse_args(['--methods', 'FGD']).methods == ['FGD']


def test_study_and_ablation_choose_their_methods_and_seeds():
    with pytest.raises(SystemExit):
        akd_demo.parse_args(['--study', '--ablation'])
    det = akd_demo.TASKS['det']
    study = akd_demo.parse_args(['--study'])
    assert study.seeds == [0, 1, 2]
    assert study.iters == akd_demo.STUDY_STUDENT_ITERS == 900
    cwd_akd = [
        'CWD + AKD', 'CWD + AKD (no sigma)', 'CWD + AKD (release)',
        'CWD + AKD (expected sigma)', 'CWD + AKD (p=0.3)'
    ]
    assert akd_demo._default_methods(det, study) == [
        'no KD', 'CWD', *cwd_akd, 'FGD', 'FGD + AKD'
    ]
    # FGD is for detection only.
    assert akd_demo._default_methods(akd_demo.TASKS['seg'], study) == [
        'no KD', 'CWD', *cwd_akd
    ]
    assert akd_demo.parse_args(['--study', '--iters', '5']).iters == 5
    ablation = akd_demo.parse_args(['--ablation'])
    assert ablation.seeds == [0, 1, 2]
    assert ablation.iters == akd_demo.STUDENT_ITERS
    assert akd_demo._default_methods(det, ablation) == [
        'CWD', 'CWD + AKD', 'CWD + AKD (N=4)', 'CWD + AKD (p=0.05)',
        'CWD + AKD (p=0.3)', 'CWD + AKD (no sigma)'
    ]
    assert akd_demo._default_methods(det, akd_demo.parse_args([])) == [
        'no KD', 'CWD', 'CWD + AKD'
    ]


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_each_akd_variant_changes_its_one_setting(task):
    """Each variant builds the distiller of CWD + AKD but for one setting."""

    def settings(method):
        config, overrides = akd_demo.TASKS[task].methods[method]
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(overrides)
        distiller = MODELS.build(cfg.model.distiller)
        generator = distiller.avatar_generator
        (loss, *_) = distiller.distill_losses.values()
        return dict(
            num_avatars=generator.num_avatars,
            p=[perturb.p for perturb in generator.perturbations],
            uncertainty=loss.uncertainty,
            sigma=loss.sigma)

    reference = settings('CWD + AKD')
    assert reference == dict(
        num_avatars=1, p=[0.1], uncertainty='paper', sigma='sampled')
    changed = {
        'CWD + AKD (N=4)': dict(num_avatars=4),
        'CWD + AKD (p=0.05)': dict(p=[0.05]),
        'CWD + AKD (p=0.3)': dict(p=[0.3]),
        'CWD + AKD (no sigma)': dict(uncertainty='none'),
        'CWD + AKD (release)': dict(uncertainty='release'),
        'CWD + AKD (expected sigma)': dict(sigma='expected'),
    }
    variants = [m for m in akd_demo.TASKS[task].methods
                if m.startswith('CWD + AKD (') and m != 'CWD + AKD (official)']
    assert sorted(changed) == sorted(variants)
    assert set(akd_demo.TASKS[task].ablation) <= set(changed)
    for method, change in changed.items():
        assert settings(method) == {**reference, **change}, method


def test_a_run_is_reused_only_with_the_same_data_and_teacher(tmp_path):
    made = dict(data_root='/data/a', teacher='/t/iter_2.pth@100')
    akd_demo._save(str(tmp_path), dict(metric=0.5), made)
    assert akd_demo._cached(str(tmp_path), made)['metric'] == 0.5
    assert akd_demo._cached(str(tmp_path / 'none'), made) is None
    for changed in (dict(made, data_root='/data/b'),
                    dict(made, teacher='/t/iter_2.pth@200')):
        assert akd_demo._cached(str(tmp_path), changed) is None


def test_a_missing_metric_is_zero_only_where_it_can_mean_zero():
    records = [dict(step=1, loss=1.0, time=0.2)]
    det = akd_demo.summarise(records, akd_demo.TASKS['det'])
    assert det['metric'] == 0.0 and det['s_per_iter'] == 0.2
    with pytest.raises(RuntimeError, match="no validation logged 'mIoU'"):
        akd_demo.summarise(records, akd_demo.TASKS['seg'])
    seg = akd_demo.summarise(records + [dict(step=3, mIoU=40.0)],
                             akd_demo.TASKS['seg'])
    assert seg['metric'] == 40.0 and seg['curve'] == [(3, 40.0)]


def test_a_run_prints_only_to_its_log(tmp_path, capsys):
    """mmengine's console handler, stdout and stderr go to console.log."""
    from mmengine.logging import MMLogger
    path = str(tmp_path / 'console.log')
    with akd_demo._run_output(path, verbose=False):
        logger = MMLogger.get_instance('akd_demo_quiet_test')
        logger.info('a log line')
        print('an evaluation table')
        print('a warning of the run', file=sys.stderr)
    assert capsys.readouterr() == ('', '')
    text = open(path).read()
    for line in ('a log line', 'an evaluation table', 'a warning of the run'):
        assert line in text
    # The handler made for the file is gone with the run.
    logger.info('after the run')
    assert 'after the run' not in open(path).read()
    with akd_demo._run_output(path, verbose=True):
        print('shown too')
    assert 'shown too' in capsys.readouterr().out
    assert 'shown too' in open(path).read()


def test_the_pkg_resources_warning_alone_is_silenced():
    """mmengine reloads pkg_resources, which warns each time; the demo's
    filter silences that message and no other warning."""
    check = ('from mmengine.utils import is_installed; '
             'is_installed("mmdet"); import warnings; '
             'warnings.warn("another warning")')

    def stderr(prelude: str) -> str:
        return subprocess.run(
            [sys.executable, '-W', 'default', '-c', prelude + check],
            cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=300).stderr

    assert 'pkg_resources is deprecated' in stderr('')
    quiet = stderr('import sys; sys.path.insert(0, "tools"); '
                   'import akd_demo; ')
    assert 'pkg_resources' not in quiet
    assert 'another warning' in quiet


def test_time_left_follows_the_speed_of_the_runs_trained(tmp_path):
    plan = [
        akd_demo.PlannedRun('det', 'teacher', 600, str(tmp_path / 't')),
        akd_demo.PlannedRun('det', 'student', 300, str(tmp_path / 's0')),
        akd_demo.PlannedRun('det', 'student', 300, str(tmp_path / 's1')),
    ]
    progress = akd_demo.Progress(plan, verbose=False)
    assert progress.time_left() == 'about 3.3 min left'  # 120 + 2 x 39 s
    progress.begin('teacher')
    progress._started -= 240  # it took twice the quiet machine's time
    progress.end('done', trained=True)
    assert progress.time_left() == 'about 2.6 min left'  # 2 x 78 s
    (tmp_path / 's1').mkdir()
    (tmp_path / 's1' / 'result.json').write_text('{}')  # on disk: reused
    assert progress.time_left() == 'about 1.3 min left'


def test_table_says_how_many_seeds_and_what_one_seed_means():
    task = akd_demo.TASKS['seg']
    teacher = dict(metric=67.0, s_per_iter=0.15)
    one = akd_demo.table(task, teacher, {
        'no KD': [dict(metric=11.0, s_per_iter=0.05)],
        'CWD': [dict(metric=40.0, s_per_iter=0.1)]})
    assert '| seg | mIoU | s/iter | runs |' in one
    assert '| CWD | 40.000 | 0.100 | 1 |' in one
    assert 'one seed per method' in one and 'std 1.6-9.1 mIoU' in one
    three = akd_demo.table(task, teacher, {
        'CWD': [dict(metric=m, s_per_iter=0.1) for m in (30.0, 40.0, 50.0)]
    })
    assert '| seg | mIoU (mean ± std) | per seed |' in three
    assert '| CWD | 40.000 ± 10.000 | 30.000, 40.000, 50.000 |  |  | ' \
        '0.100 | 3 |' in three
    assert '3 seeds per method' in three


def test_table_pairs_each_akd_method_with_its_base_loss_seed_by_seed():
    task = akd_demo.TASKS['det']
    teacher = dict(metric=0.75, s_per_iter=0.2)

    def runs(*values):
        return [dict(metric=v, s_per_iter=0.1) for v in values]

    text = akd_demo.table(task, teacher, {
        'CWD': runs(0.5, 0.6, 0.55),
        'CWD + AKD (p=0.3)': runs(0.52, 0.59, 0.57),
        'FGD': runs(0.4, 0.5, 0.6),
        'FGD + AKD': runs(0.3, 0.5, 0.5),
        'no KD': runs(0.3, 0.3, 0.3),
    })
    # Differences +0.02, -0.01, +0.02: mean +0.01, std 0.0173.
    assert '| CWD + AKD (p=0.3) | 0.560 ± 0.036 | 0.520, 0.590, 0.570 | ' \
        '+0.010 ± 0.017 | 2/3 |' in text
    # Against FGD, not CWD: -0.1, 0, -0.1.
    assert '| FGD + AKD | 0.433 ± 0.115 | 0.300, 0.500, 0.500 | ' \
        '-0.067 ± 0.058 | 0/3 |' in text
    assert '| no KD | 0.300 ± 0.000 | 0.300, 0.300, 0.300 |  |  |' in text
    assert akd_demo.base_method('CWD + AKD (release)') == 'CWD'
    assert akd_demo.base_method('FGD + AKD') == 'FGD'
    assert akd_demo.base_method('CWD') is None


def test_curves_one_point_per_validation_teacher_line_and_bands(tmp_path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    # 100 iterations: validations at 34, 68 and 100, none at 99.
    cfg = Config.fromfile(akd_demo.TASKS['det'].methods['no KD'][0])
    assert akd_demo._schedule_overrides(cfg, 100)[
        'train_cfg.val_interval'] == 34
    records = [dict(step=s, mIoU=v) for s, v in ((34, 1.0), (68, 2.0),
                                                 (100, 3.0), (100, 3.5))]
    seg = akd_demo.TASKS['seg']
    assert akd_demo.summarise(records, seg)['curve'] == [
        (34, 1.0), (68, 2.0), (100, 3.5)]
    runs = [dict(metric=v, curve=[(34, v - 2), (68, v - 1), (100, v)])
            for v in (10.0, 12.0, 14.0)]
    shown = []
    real_savefig = plt.Figure.savefig

    def keep(fig, *args, **kwargs):
        shown.append(fig)
        return real_savefig(fig, *args, **kwargs)

    plt.Figure.savefig = keep
    try:
        akd_demo.plot(dict(seg=dict(
            teacher=dict(metric=60.0, curve=[]),
            results={'CWD': runs, 'no KD': runs[:1]})),
            str(tmp_path / 'curves.png'))
    finally:
        plt.Figure.savefig = real_savefig
    (ax, ) = shown[0].axes
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 60.0
    cwd, no_kd, teacher = ax.get_lines()
    assert list(cwd.get_xdata()) == [34, 68, 100]
    assert list(cwd.get_ydata()) == [10.0, 11.0, 12.0]  # mean over seeds
    assert list(teacher.get_ydata()) == [60.0, 60.0]
    assert len(ax.collections) == 1  # a band for CWD (3 seeds) only
    assert 'mean ± std over 3 seeds' in ax.get_title()
