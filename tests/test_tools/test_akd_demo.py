"""The Digit Scenes demo (projects/digit_scenes, ``make demo``): its
options, its quiet output, its runs (each a tools/train.py process), and
end to end."""
import importlib.util
import json
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from helpers import REPO_ROOT, skip_on_onedl_forks
from mmengine.config import Config
from mmrazor.registry import MODELS

from mmakd.utils import load_tool_config
from projects.digit_scenes.digit_scenes import demo as akd_demo
from projects.digit_scenes.digit_scenes import report as akd_demo_report
from projects.digit_scenes.digit_scenes import train_process

#: The demo's script, as ``make demo`` runs it.
AKD_DEMO = osp.join('projects', 'digit_scenes', 'tools', 'akd_demo.py')


def _load_train_py():
    """tools/train.py as a module (its parse_args)."""
    spec = importlib.util.spec_from_file_location('akd_demo_test_train',
                                                  train_process.TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_py = _load_train_py()


def train_py_config(command, monkeypatch) -> Config:
    """The config that tools/train.py makes of ``command``."""
    assert command[0] == sys.executable
    at = command.index(train_process.TRAIN_PY)
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_args sets it otherwise
    args = train_py.parse_args(command[at + 1:])
    return load_tool_config(args.config, args.launcher, args.cfg_options,
                            args.work_dir)


def run_demo(*args: str) -> subprocess.CompletedProcess:
    """Runs the demo's script from the repository root, with the root on
    ``PYTHONPATH`` (as ``make demo`` does)."""
    path = os.pathsep.join(filter(None, [REPO_ROOT,
                                         os.environ.get('PYTHONPATH')]))
    proc = subprocess.run([sys.executable, AKD_DEMO, *args],
                          cwd=REPO_ROOT,
                          env={**os.environ, 'PYTHONPATH': path},
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, monkeypatch):
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
    # Each line ends once its run has: the estimate is from those trained.
    assert all(re.search(r'(min|s) left$', line) for line in runs[:-1])
    assert runs[-1].endswith('all runs done')
    assert len(out.splitlines()) < 40, out
    assert 'pkg_resources' not in out + proc.stderr
    assert 'mmengine - INFO' not in out + proc.stderr
    # The full output of each run is in its work dir.
    logs = list(work_dir.glob('*/*/**/console.log'))
    assert len(logs) == 8
    # Each log starts with the run's tools/train.py command (with the -W
    # filter that keeps pkg_resources' warning out of what follows), which
    # makes the config the run trained (the Runner dumped it in its work
    # dir).
    for path in logs:
        first, output = path.read_text().split('\n', 1)
        assert 'mmengine - INFO' in output
        assert 'pkg_resources' not in output
        command = shlex.split(first)
        cfg = train_py_config(command, monkeypatch)
        assert cfg.work_dir == str(path.parent)
        (dumped, ) = [p for p in path.parent.glob('*.py')]
        dumped = Config.fromfile(str(dumped))
        for key in ('train_cfg', 'param_scheduler', 'randomness',
                    'train_dataloader', 'val_evaluator', 'model'):
            assert cfg[key] == dumped[key], (path, key)
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
    # The teacher and each of the quick demo's students.
    assert again.count('reusing') == 1 + len(akd_demo.QUICK_METHODS)


@pytest.mark.slow
def test_demo_runs_maskd_end_to_end(tmp_path):
    """The teacher, its receptive tokens and the MasKD students, each a real
    tools/train.py run: the students load the tokens the demo trained."""
    work_dir = tmp_path / 'work'
    proc = run_demo('--quick', '--tasks', 'det', '--methods', 'MasKD',
                    'MasKD + AKD (release)', '--iters', '2',
                    '--teacher-iters', '2', '--tokens-iters', '2',
                    '--work-dir', str(work_dir), '--data-root',
                    str(tmp_path / 'data'), '--num-scenes', '24', '8')
    out = proc.stdout
    assert "| teacher through MasKD's tokens |" in out
    for method in ('MasKD', 'MasKD + AKD (release)'):
        assert out.count(f'| {method} |') == 1, out
    teacher_dir = work_dir / 'det' / 'teacher_2i_quick'
    tokens = json.loads(
        (teacher_dir / 'maskd_tokens_2i' / 'result.json').read_text())
    assert osp.exists(tokens['checkpoint'])
    log = (teacher_dir / 'maskd_2i_seed0' / 'console.log').read_text()
    assert f'tokens_ckpt={tokens["checkpoint"]}' in log.split('\n', 1)[0]
    # The AKD student logged its Avatars' statistics.
    log = (teacher_dir / 'maskd+akd_release_2i_seed0' /
           'console.log').read_text()
    assert 'akd_spread.maskd_fpn0' in log


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


def test_study_and_ablation_choose_their_methods_seeds_and_budgets():
    with pytest.raises(SystemExit):
        akd_demo.parse_args(['--study', '--ablation'])
    det, seg = akd_demo.TASKS['det'], akd_demo.TASKS['seg']
    study = akd_demo.parse_args(['--study'])
    assert study.seeds == [0, 1, 2]
    # docs/study.md: detection at 300 iterations, where distillation
    # helps its student; segmentation at 900.
    assert akd_demo.student_iters(det, study) == det.study_iters == 300
    assert akd_demo.student_iters(seg, study) == seg.study_iters == 900
    assert akd_demo.student_iters(
        det, akd_demo.parse_args(['--study', '--iters', '5'])) == 5
    forms = ['', ' + AKD', ' + AKD (release)', ' + AKD (no sigma)']
    assert akd_demo._default_methods(det, study) == ['no KD'] + [
        f'{base}{form}' for base in ('CWD', 'FGD', 'MasKD') for form in forms
    ]
    assert akd_demo._default_methods(seg, study) == [
        'no KD', 'CWD', 'CWD + AKD', 'CWD + AKD (no sigma)',
        'CWD + AKD (release)', 'CWD + AKD (expected sigma)',
        'CWD + AKD (p=0.3)'
    ]
    ablation = akd_demo.parse_args(['--ablation'])
    assert ablation.seeds == [0, 1, 2]
    assert ablation.iters == akd_demo.STUDENT_ITERS
    assert akd_demo._default_methods(det, ablation) == [
        'CWD', 'CWD + AKD', 'CWD + AKD (N=4)', 'CWD + AKD (p=0.05)',
        'CWD + AKD (p=0.3)', 'CWD + AKD (no sigma)'
    ]
    assert akd_demo._default_methods(det, akd_demo.parse_args([])) == [
        'no KD', 'CWD', 'CWD + AKD', 'CWD (inherit)'
    ]
    # make demo-quick stays as it was.
    assert akd_demo._default_methods(
        det, akd_demo.parse_args(['--quick'])) == [
            'no KD', 'CWD', 'CWD + AKD']


def test_a_task_refuses_study_methods_it_does_not_have():
    with pytest.raises(ValueError, match=r"x: study_methods \['FGD'\] are "
                       'not among its methods'):
        akd_demo.Task('x', 'mIoU', 'mIoU', 'teacher.py', False, '', ['FGD'],
                      10, methods=dict(akd_demo.TASKS['seg'].methods))


@pytest.mark.parametrize('base', ['FGD', 'MasKD'])
def test_each_uncertainty_form_of_a_base_loss_is_set_by_its_method(base):
    """'<base> + AKD' is the paper's form, whatever the recipe's default
    (MasKD + AKD's is the release's)."""
    det = akd_demo.TASKS['det']
    expected = {
        f'{base} + AKD': 'paper',
        f'{base} + AKD (release)': 'release',
        f'{base} + AKD (no sigma)': 'none'
    }
    assert sorted(m for m in det.methods
                  if m.startswith(f'{base} + AKD')) == sorted(expected)
    for method, uncertainty in expected.items():
        config, overrides = det.methods[method]
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(overrides)
        for loss in cfg.model.distiller.distill_losses.values():
            loss.pop('tokens_ckpt', None)  # tokens are not needed to build
        distiller = MODELS.build(cfg.model.distiller)
        forms = {loss.uncertainty
                 for loss in distiller.distill_losses.values()}
        assert forms == {uncertainty}, method


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
    # 'official' changes the form of its standardisation; '3 teachers' the
    # teachers (test_three_teacher_methods_are_the_one_teacher_ones_...).
    variants = [m for m in akd_demo.TASKS[task].methods
                if m.startswith('CWD + AKD (') and m not in (
                    'CWD + AKD (official)', 'CWD + AKD (3 teachers)')]
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
                    dict(made, teacher='/t/iter_2.pth@200'),
                    dict(made, tokens='/k/iter_2.pth@100')):
        assert akd_demo._cached(str(tmp_path), changed) is None


def test_provenance_names_each_checkpoint_with_its_file_time(tmp_path):
    teacher, tokens = tmp_path / 'teacher.pth', tmp_path / 'tokens.pth'
    teacher.write_text('')
    tokens.write_text('')
    os.utime(teacher, (100, 100))
    os.utime(tokens, (200, 200))
    assert akd_demo._provenance(
        dict(teacher=str(teacher), tokens=str(tokens)), 'data') == dict(
            data_root=osp.abspath('data'), teacher=f'{teacher}@100',
            tokens=f'{tokens}@200')
    assert akd_demo._provenance({}, 'data') == dict(
        data_root=osp.abspath('data'))


def test_a_missing_metric_is_zero_only_where_it_can_mean_zero():
    records = [dict(step=1, loss=1.0, time=0.2)]
    det = akd_demo.summarise(records, akd_demo.TASKS['det'])
    assert det['metric'] == 0.0 and det['s_per_iter'] == 0.2
    with pytest.raises(RuntimeError, match="no validation logged 'mIoU'"):
        akd_demo.summarise(records, akd_demo.TASKS['seg'])
    seg = akd_demo.summarise(records + [dict(step=3, mIoU=40.0)],
                             akd_demo.TASKS['seg'])
    assert seg['metric'] == 40.0 and seg['curve'] == [(3, 40.0)]


def test_a_run_writes_its_command_and_output_to_its_log(tmp_path, capsys):
    """The command is the log's first line; stdout and stderr follow, on the
    console too only with verbose."""
    path = str(tmp_path / 'console.log')
    command = [
        sys.executable, '-c', 'import sys; print("an evaluation table"); '
        'print("a warning of the run", file=sys.stderr); sys.exit(3)'
    ]
    assert train_process.execute(command, path, verbose=False) == 3
    assert capsys.readouterr() == ('', '')
    first, *rest = open(path).read().splitlines()
    assert shlex.split(first) == command
    assert rest == ['an evaluation table', 'a warning of the run']
    assert train_process.execute(command[:2] + ['print("shown too")'],
                                 path, verbose=True) == 0
    assert capsys.readouterr().out == 'shown too\n'
    assert open(path).read().splitlines()[1:] == ['shown too']


@skip_on_onedl_forks('onedl-mmengine reads package metadata with '
                     'importlib.metadata: no pkg_resources warning to silence')
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
    quiet = stderr('import projects.digit_scenes.digit_scenes.demo; ')
    assert 'pkg_resources' not in quiet
    assert 'another warning' in quiet


def test_time_left_follows_the_speed_of_the_runs_trained(tmp_path):
    det, seg = akd_demo.TASKS['det'], akd_demo.TASKS['seg']
    plan = [
        akd_demo.Run(det, None, 0, 600, str(tmp_path / 't'), role='teacher'),
        akd_demo.Run(det, 'CWD', 0, 300, str(tmp_path / 's0')),
        akd_demo.Run(det, 'CWD', 1, 300, str(tmp_path / 's1')),
        akd_demo.Run(seg, None, 0, 600, str(tmp_path / 'seg'),
                     role='teacher'),
    ]
    progress = akd_demo.Progress(plan, verbose=False)
    assert progress.time_left() == 'no time estimate yet'
    progress.begin('teacher')
    progress._started -= 240  # 0.4 s/iter
    progress.end('done', trained=True)
    # No student and no seg run has finished: all runs' 0.4 s/iter.
    assert progress.time_left() == 'about 8.0 min left'  # 240 + 240 s
    progress.begin('student')
    progress._started -= 30  # 0.1 s/iter, for the det student left
    progress.end('done', trained=True)
    # 30 s, and 270 s / 900 iterations for the seg teacher.
    assert progress.time_left() == 'about 3.5 min left'
    (tmp_path / 's1').mkdir()
    (tmp_path / 's1' / 'result.json').write_text('{}')  # on disk: reused
    assert progress.time_left() == 'about 3.0 min left'
    progress.fail('exit status 1', 'a/console.log')
    assert progress.failed == ['a/console.log']
    progress.skip(2, 'seg: skipped')
    assert progress.time_left() == 'all runs done'
    (tmp_path / 'seg').mkdir()
    (tmp_path / 'seg' / 'result.json').write_text('{}')
    progress.count = 2
    assert progress.time_left() == 'the other runs are on disk already'
    assert 'PRIOR_S_PER_ITER' not in vars(akd_demo)


def test_table_says_how_many_seeds_and_what_one_seed_means():
    task = akd_demo.TASKS['seg']
    teacher = dict(metric=67.0, s_per_iter=0.15)
    one = akd_demo_report.table(task, teacher, {
        'no KD': [dict(metric=11.0, s_per_iter=0.05)],
        'CWD': [dict(metric=40.0, s_per_iter=0.1)]})
    assert '| seg | mIoU | s/iter | runs |' in one
    assert '| CWD | 40.000 | 0.100 | 1 |' in one
    assert 'one seed per method' in one and 'std 1.6-9.1 mIoU' in one
    three = akd_demo_report.table(task, teacher, {
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

    text = akd_demo_report.table(task, teacher, {
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
    assert akd_demo_report.base_method('CWD + AKD (release)') == 'CWD'
    assert akd_demo_report.base_method('FGD + AKD') == 'FGD'
    assert akd_demo_report.base_method('CWD') is None


def _plotted_axes(all_results: dict, tmp_path, monkeypatch):
    """The one panel of the figure that ``akd_demo_report.plot`` saves."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    shown = []
    real_savefig = plt.Figure.savefig

    def keep(fig, *args, **kwargs):
        shown.append(fig)
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, 'savefig', keep)
    akd_demo_report.plot(all_results, str(tmp_path / 'curves.png'))
    (ax, ) = shown[0].axes
    return ax


def test_curves_one_point_per_validation_teacher_line_and_bands(
        tmp_path, monkeypatch):

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
    ax = _plotted_axes(dict(seg=dict(
        teacher=dict(metric=60.0, curve=[]),
        results={'CWD': runs, 'no KD': runs[:1]})), tmp_path, monkeypatch)
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 60.0
    cwd, no_kd, teacher = ax.get_lines()
    assert list(cwd.get_xdata()) == [34, 68, 100]
    assert list(cwd.get_ydata()) == [10.0, 11.0, 12.0]  # mean over seeds
    assert list(teacher.get_ydata()) == [60.0, 60.0]
    assert len(ax.collections) == 1  # a band for CWD (3 seeds) only
    assert 'mean ± std over 3 seeds' in ax.get_title()


def _args(tmp_path, *argv):
    return akd_demo.parse_args(['--work-dir', str(tmp_path / 'work'),
                                '--data-root', str(tmp_path / 'data'),
                                *argv])


@pytest.mark.parametrize('task,method', [('det', None), ('det', 'CWD'),
                                         ('det', 'CWD + AKD (p=0.05)'),
                                         ('det', 'MasKD tokens'),
                                         ('det', 'MasKD + AKD'),
                                         ('seg', 'CWD + AKD (N=4)'),
                                         ('det', 'CWD (3 teachers)'),
                                         ('seg', 'CWD + AKD (3 teachers)'),
                                         ('det', 'CWD (inherit)'),
                                         ('seg', 'CWD (inherit)'),
                                         ('seg', 'teacher seed 2')])
def test_a_run_is_a_train_py_command_of_its_config_and_overrides(
        tmp_path, monkeypatch, task, method):
    """tools/train.py makes of the command the config that the overrides,
    merged into it, make: the schedule, data, seed, method, teacher (or
    teachers) and MasKD's tokens."""
    args = _args(tmp_path, '--iters', '100', '--teacher-iters', '60',
                 '--tokens-iters', '40')
    task = akd_demo.TASKS[task]
    ckpt = str(tmp_path / 'teacher' / 'iter_60.pth') if method else None
    tokens = str(tmp_path / 'tokens' / 'iter_40.pth')
    others = {f'teacher_seed{seed}': str(tmp_path / f'teacher{seed}' /
                                         'iter_60.pth') for seed in (1, 2)}
    if method is None:
        run = akd_demo._plan(task, ['CWD'], args)[0]
        made_from = {}
    elif method == 'teacher seed 2':
        run = akd_demo._plan(task, ['CWD (3 teachers)'], args)[2]
        made_from = {}
    elif method == 'MasKD tokens':
        run = akd_demo._plan(task, ['MasKD'], args)[1]
        made_from = dict(teacher=ckpt)
    else:
        run = akd_demo._plan(task, [method], args)[-1]
        made_from = dict(teacher=ckpt, tokens=tokens) \
            if run.needs_tokens else dict(teacher=ckpt)
        if run.teacher_seeds:
            made_from.update(others)
    config, overrides = akd_demo._config_and_overrides(run, made_from,
                                                       args.data_root)
    command = train_process.train_command(config, run.work_dir, overrides)
    # The log's first line, as a shell splits it, is the command.
    assert shlex.split(shlex.join(command)) == command
    cfg = train_py_config(command, monkeypatch)
    expected = Config.fromfile(config)
    expected.merge_from_dict(overrides)
    expected.work_dir = run.work_dir
    expected.launcher = 'none'
    assert cfg.to_dict() == expected.to_dict()
    iters = dict(teacher=60, tokens=40, student=100)[run.role]
    full = Config.fromfile(config)
    assert cfg.train_cfg.max_iters == iters
    assert cfg.param_scheduler == akd_demo._schedule_overrides(
        full, iters)['param_scheduler'] != full.param_scheduler
    assert cfg.randomness == dict(seed=run.seed)
    root = str(tmp_path / 'data') + '/'
    assert cfg.train_dataloader.dataset.data_root == root
    assert cfg.val_dataloader.dataset.data_root == root
    if task.name == 'det':
        assert cfg.val_evaluator.ann_file == \
            root + 'annotations/instances_val.json'
    if method == 'teacher seed 2':
        assert run.role == 'teacher' and run.seed == 2
        assert run.work_dir == osp.join(str(tmp_path / 'work'), 'seg',
                                        'teacher_60i_seed2')
    if method and '3 teachers' in method:
        # t0 is the demo's teacher, t<k> the one trained with seed k.
        assert run.teacher_seeds == (1, 2)
        expected = dict(t0=ckpt, t1=others['teacher_seed1'],
                        t2=others['teacher_seed2'])
        assert {name: teacher.ckpt for name, teacher in
                cfg.model.teachers.items()} == expected
        assert cfg.teacher_ckpts == expected and cfg.teacher_ckpt == ckpt
    elif method and method != 'teacher seed 2':
        assert not run.teacher_seeds
        assert cfg.model.teacher_ckpt == cfg.teacher_ckpt == ckpt
    else:
        assert 'teacher_ckpt' not in cfg.model
    assert cfg.model.get('inherit', False) == (method == 'CWD (inherit)')
    if method == 'MasKD + AKD':
        assert run.needs_tokens and cfg.tokens_ckpt == tokens
        losses = cfg.model.distiller.distill_losses.values()
        assert [loss.tokens_ckpt for loss in losses] == [tokens] * 3
        assert cfg.model.distiller.uncertainty == 'paper'
    else:
        assert not run.needs_tokens and 'tokens_ckpt' not in cfg
    if method == 'CWD + AKD (p=0.05)':
        assert cfg.model.distiller.avatar_generator.perturbation == dict(
            type='ElementDropout', p=0.05)


def test_cfg_options_refuse_what_they_would_read_as_another_value():
    assert train_process.cfg_options({
        'a': [1, 2.5], 'b': dict(c=(True, None), d='x'), 'e': []
    }) == ['a=[1,2.5]', 'b.c=(True,None)', 'b.d=x', 'e=[]']
    for value in ('/a path/with a space', 'a,b', '1', 'nan'):
        with pytest.raises(ValueError, match='--cfg-options cannot pass'):
            train_process.cfg_options(dict(data_root=value))


def test_tensorboard_adds_its_backend_to_the_config(tmp_path, monkeypatch):
    config = akd_demo.TASKS['seg'].methods['CWD'][0]
    work_dir = str(tmp_path / 'run')
    command = train_process.train_command(config, work_dir, {},
                                          tensorboard=True)
    cfg = train_py_config(command, monkeypatch)
    assert cfg.filename == osp.join(work_dir, 'tensorboard',
                                    osp.basename(config))
    assert cfg.visualizer.vis_backends == [
        dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
    plain = Config.fromfile(config)
    assert cfg.model == plain.model and cfg.train_cfg == plain.train_cfg


FAKE_TRAIN_PY = """
import json, os, sys, time
argv = sys.argv[1:]
work_dir = argv[argv.index('--work-dir') + 1]
options = dict(o.split('=', 1) for o in argv[argv.index('--cfg-options') + 1:])
iters = int(options['train_cfg.max_iters'])
# 0.5, plus 0.01 a seed, 0.05 with three teachers, 0.02 inheriting.
metric = 0.5 + 0.01 * int(options['randomness.seed']) + 0.05 * (
    'model.teachers.t2.ckpt' in options) + 0.02 * ('model.inherit' in options)
print('mmengine - INFO - a fake run')
print('a warning', file=sys.stderr)
log_dir = os.path.join(work_dir, time.strftime('%Y%m%d_%H%M%S'), 'vis_data')
os.makedirs(log_dir)
with open(os.path.join(log_dir, 'scalars.json'), 'w') as f:
    for record in (dict(step=1, loss=1.0, time=0.25),
                   {'step': iters, 'coco/bbox_mAP': round(metric, 3),
                    'mIoU': round(100 * metric, 2)}):
        f.write(json.dumps(record) + '\\n')
ckpt = os.path.join(work_dir, f'iter_{iters}.pth')
open(ckpt, 'w').close()
with open(os.path.join(work_dir, 'last_checkpoint'), 'w') as f:
    f.write(ckpt)
"""


def test_a_failed_run_is_reported_and_the_other_runs_go_on(
        tmp_path, monkeypatch, capsys):
    """det's CWD student: a real tools/train.py run with an override that
    the config cannot take; seg's teacher: a command that exits 3. The
    other runs (a stand-in for tools/train.py that logs a result) finish,
    the tables show them, and the status is 1."""
    fake = tmp_path / 'fake_train.py'
    fake.write_text(FAKE_TRAIN_PY)
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'meta.json').write_text('{}')  # no data made
    det = akd_demo.TASKS['det']
    config, extra = det.methods['CWD']
    monkeypatch.setitem(det.methods, 'CWD',
                        (config, dict(extra, **{'param_scheduler.5.end': 1})))
    real = train_process.train_command

    def command(config, work_dir, overrides, tensorboard=False):
        argv = real(config, work_dir, overrides, tensorboard)
        if 'param_scheduler.5.end' in overrides:
            return argv
        if osp.basename(work_dir).startswith('teacher') and '/seg/' in \
                work_dir:
            return [sys.executable, '-c', 'import sys; sys.exit(3)']
        return [sys.executable, str(fake),
                *argv[argv.index(train_process.TRAIN_PY) + 1:]]

    monkeypatch.setattr(train_process, 'train_command', command)
    # The methods of make demo-quick (without the default run's evaluation
    # of the Avatars and CWD (inherit)).
    args = ('--iters', '2', '--teacher-iters', '2', '--work-dir',
            str(tmp_path / 'work'), '--data-root', str(tmp_path / 'data'),
            '--methods', *akd_demo.QUICK_METHODS)
    assert akd_demo.main(list(args)) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    parsed = akd_demo.parse_args(list(args))
    failed_log = osp.join(akd_demo._student_dir(det, 'CWD', 0, parsed),
                          'console.log')
    (failed, ) = [line for line in lines if 'det 3/8 CWD, seed 0' in line]
    assert re.search(r'failed \(exit status 1\); its full output: ' +
                     re.escape(failed_log) + r'; about \d+ s left$', failed)
    first, *rest = open(failed_log).read().splitlines()
    argv = shlex.split(first)
    assert argv[argv.index(train_process.TRAIN_PY) + 1:][:3] == [
        config, '--work-dir', osp.dirname(failed_log)]
    assert 'param_scheduler.5.end=1' in argv
    assert 'exceeds the length of list' in '\n'.join(rest)
    for method in ('no KD', 'CWD + AKD'):
        (line, ) = [line for line in lines if f' {method}, seed 0' in line]
        assert 'mAP 0.500, 0.250 s/iter' in line, line
        log = osp.join(akd_demo._student_dir(det, method, 0, parsed),
                       'console.log')
        assert 'a fake run\na warning' in open(log).read()
    seg_log = tmp_path / 'work' / 'seg' / 'teacher_2i' / 'console.log'
    assert f'failed (exit status 3); its full output: {seg_log}' in out
    assert 'seg: its teacher failed; its students are skipped; all runs ' \
        'done' in out
    assert '| teacher | 0.500 | 0.250 | 1 |' in out
    assert '| no KD | 0.500 | 0.250 | 1 |' in out
    assert '| CWD + AKD | 0.500 | 0.250 | 1 |' in out
    assert '| CWD |' not in out and '| seg |' not in out
    assert lines[-1].endswith(f'2 run(s) failed; their full output: '
                              f'{failed_log}, {seg_log}')
    assert osp.exists(tmp_path / 'work' / 'curves.png')
    # A second run retrains only what failed.
    monkeypatch.setitem(det.methods, 'CWD', (config, extra))
    assert akd_demo.main(list(args) + ['--tasks', 'det']) == 0
    again = capsys.readouterr().out
    assert again.count('reusing') == 3 and again.count('training') == 1
    assert '| CWD | 0.500 | 0.250 | 1 |' in again


#: A stand-in for eval_avatars.py: the teacher at 0.6 (60 mIoU), each
#: Avatar row 0.01 lower, the teachers' ensemble 0.05 higher; it prints how
#: many intra-op threads it was given.
FAKE_EVAL_PY = """
import json, os, sys
argv = sys.argv[1:]
ckpts = argv[argv.index('--teacher-ckpts') + 1:] \\
    if '--teacher-ckpts' in argv else []
ckpts = ckpts[:next((i for i, a in enumerate(ckpts) if a.startswith('--')),
                    len(ckpts))]
sizes = argv[argv.index('--num-avatars') + 1:argv.index('--seed')]
rows = [('teacher', 1, 0.6), ('1 Avatar', 1, 0.59)] + [
    (f'{n}-Avatar ensemble', int(n), 0.59) for n in sizes]
if ckpts:
    rows.append((f'teacher ensemble ({len(ckpts) + 1})', len(ckpts) + 1,
                 0.65))
print('a fake evaluation; OMP_NUM_THREADS', os.environ.get('OMP_NUM_THREADS'))
with open(argv[argv.index('--out') + 1], 'w') as f:
    json.dump(dict(config=argv[0], checkpoint=argv[1], teacher_ckpts=ckpts,
                   points=dict(fpn='neck'), seed=int(argv[argv.index(
                       '--seed') + 1]), samples=8,
                   perturbation=[dict(type='ElementDropout', p=0.1)],
                   rows=[dict(model=m, members=k, seconds=0.5 * k, metrics={
                       'coco/bbox_mAP': v, 'mIoU': 100 * v})
                         for m, k, v in rows]), f)
"""


def _fake_runs(tmp_path, monkeypatch, fail: str = '') -> dict:
    """Every run is the stand-in for tools/train.py, every evaluation that
    for eval_avatars.py (a run whose work dir starts with ``fail`` exits
    3); returns each run's overrides (an evaluation's command), by the
    name of its work dir."""
    fake = tmp_path / 'fake_train.py'
    fake.write_text(FAKE_TRAIN_PY)
    fake_eval = tmp_path / 'fake_eval.py'
    fake_eval.write_text(FAKE_EVAL_PY)
    (tmp_path / 'data').mkdir(exist_ok=True)
    (tmp_path / 'data' / 'meta.json').write_text('{}')  # no data made
    made = {}
    real = train_process.train_command

    def command(config, work_dir, overrides, tensorboard=False):
        made[osp.basename(work_dir)] = overrides
        if fail and osp.basename(work_dir).startswith(fail):
            return [sys.executable, '-c', 'import sys; sys.exit(3)']
        argv = real(config, work_dir, overrides, tensorboard)
        return [sys.executable, str(fake),
                *argv[argv.index(train_process.TRAIN_PY) + 1:]]

    real_eval = train_process.eval_avatars_command

    def eval_command(*args, **kwargs):
        argv = real_eval(*args, **kwargs)
        made[osp.basename(args[1])] = argv
        if fail and osp.basename(args[1]).startswith(fail):
            return [sys.executable, '-c', 'import sys; sys.exit(3)']
        return [sys.executable, str(fake_eval),
                *argv[argv.index(train_process.EVAL_AVATARS) + 1:]]

    monkeypatch.setattr(train_process, 'train_command', command)
    monkeypatch.setattr(train_process, 'eval_avatars_command', eval_command)
    return made


def _maskd_args(work_dir) -> list:
    return ['--tasks', 'det', '--methods', 'CWD', 'MasKD', '--iters', '2',
            '--teacher-iters', '2', '--tokens-iters', '3', '--work-dir',
            str(work_dir), '--data-root', str(work_dir.parent / 'data')]


def test_maskd_students_read_the_tokens_trained_on_their_teacher(
        tmp_path, monkeypatch, capsys):
    made = _fake_runs(tmp_path, monkeypatch)
    argv = _maskd_args(tmp_path / 'work')
    assert akd_demo.main(argv) == 0
    out = capsys.readouterr().out
    args = akd_demo.parse_args(argv)
    det = akd_demo.TASKS['det']
    teacher_dir = akd_demo._teacher_dir(det, args)
    tokens_dir = akd_demo._tokens_dir(det, args)
    assert tokens_dir == osp.join(teacher_dir, 'maskd_tokens_3i')
    # The teacher, then the tokens on it, then the students.
    runs = [line for line in out.splitlines() if ' det ' in line]
    assert ' det 2/4 MasKD tokens (maskd-tokens_fpn_retina-r18w32_300i_' \
        'digit-scenes.py): training 3 iterations' in runs[1]
    teacher_ckpt = osp.join(teacher_dir, 'iter_2.pth')
    tokens = made['maskd_tokens_3i']
    assert tokens['model.teacher_ckpt'] == teacher_ckpt
    assert tokens['train_cfg.max_iters'] == 3
    student = made['maskd_2i_seed0']
    assert student['model.teacher_ckpt'] == teacher_ckpt
    assert student['tokens_ckpt'] == osp.join(tokens_dir, 'iter_3.pth')
    assert student['model.distiller.distill_losses.loss_maskd_fpn2.'
                   'tokens_ckpt'] == student['tokens_ckpt']
    assert not any('tokens' in key for key in made['cwd_2i_seed0'])
    assert "| teacher through MasKD's tokens | 0.500 | 0.250 | 1 |" in out
    assert '| MasKD | 0.500 | 0.250 | 1 |' in out
    # A second demo reuses the tokens, as it does the teacher.
    made.clear()
    assert akd_demo.main(argv) == 0
    assert made == {} and capsys.readouterr().out.count('reusing') == 4


def test_without_their_tokens_maskd_students_are_skipped(
        tmp_path, monkeypatch, capsys):
    _fake_runs(tmp_path, monkeypatch, fail='maskd_tokens')
    assert akd_demo.main(_maskd_args(tmp_path / 'work')) == 1
    out = capsys.readouterr().out
    assert "MasKD, seed 0: skipped, MasKD's tokens failed" in out
    assert '| CWD | 0.500 | 0.250 | 1 |' in out
    assert '| MasKD |' not in out and 'through MasKD' not in out


def test_curves_give_each_of_many_methods_its_own_colour(
        tmp_path, monkeypatch):
    det = akd_demo.TASKS['det']
    runs = [dict(metric=0.5, curve=[(1, 0.4), (2, 0.5)])]
    results = {method: runs for method in det.study}
    assert len(results) > 10  # more than matplotlib's default colours
    ax = _plotted_axes(dict(det=dict(teacher=dict(metric=0.75, curve=[]),
                                     results=results)), tmp_path, monkeypatch)
    *methods, teacher = ax.get_lines()
    assert len(methods) == len(results)
    assert len({line.get_color() for line in methods}) == len(results)


def test_teachers_study_chooses_its_methods_seeds_and_budgets():
    for other in ('--study', '--ablation'):
        with pytest.raises(SystemExit):
            akd_demo.parse_args(['--teachers-study', other])
    det, seg = akd_demo.TASKS['det'], akd_demo.TASKS['seg']
    args = akd_demo.parse_args(['--teachers-study'])
    assert args.seeds == [0, 1, 2]
    assert args.teacher_iters == akd_demo.TEACHER_ITERS == 600
    # The README study's budgets.
    assert akd_demo.student_iters(det, args) == 300
    assert akd_demo.student_iters(seg, args) == 900
    for task in (det, seg):
        assert akd_demo._default_methods(task, args) == [
            'CWD', 'CWD (3 teachers)', 'CWD + AKD', 'CWD + AKD (3 teachers)',
            'CWD (inherit)'
        ]


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_three_teacher_methods_are_the_one_teacher_ones_from_three(task):
    """'CWD (3 teachers)' and 'CWD + AKD (3 teachers)' distil from teachers
    t0, t1, t2 (seeds 0, 1, 2) with CWD's losses at a third of the weight;
    the AKD one in the paper's form, as 'CWD + AKD'. 'CWD (inherit)' is
    CWD with the option set."""
    methods = akd_demo.TASKS[task].methods

    def cfg_of(method):
        config, overrides = methods[method]
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(overrides)
        return cfg

    for method, one in (('CWD (3 teachers)', 'CWD'),
                        ('CWD + AKD (3 teachers)', 'CWD + AKD')):
        many, single = cfg_of(method), cfg_of(one)
        assert list(many.model.teachers) == ['t0', 't1', 't2']
        assert akd_demo.other_teachers(methods[method][0]) == (1, 2)
        assert many.model.distiller.type == single.model.distiller.type
        assert many.model.distiller.get('uncertainty') == \
            single.model.distiller.get('uncertainty')
        weights = [loss.loss_weight for loss in
                   many.model.distiller.distill_losses.values()]
        (weight, ) = {loss.loss_weight for loss in
                      single.model.distiller.distill_losses.values()}
        assert weights == pytest.approx([weight / 3] * len(weights))
        assert len(weights) == 3 * len(single.model.distiller.distill_losses)
    assert cfg_of('CWD + AKD (3 teachers)').model.distiller.uncertainty == \
        'paper'
    inherit, cwd = cfg_of('CWD (inherit)'), cfg_of('CWD')
    assert inherit.model.pop('inherit') is True
    assert inherit.to_dict() == cwd.to_dict()
    assert akd_demo.other_teachers(methods['CWD'][0]) == ()
    with pytest.raises(ValueError, match="teacher t<k> as the teacher "
                       "trained with seed k, but got the name 'big'"):
        akd_demo.teacher_seeds(dict(t0={}, big={}))


def _roles(plan):
    return [(run.role, run.method, run.seed, run.teacher_seeds)
            for run in plan]


def test_teachers_study_plans_two_more_teachers_their_evaluation_and_students(
        tmp_path):
    args = _args(tmp_path, '--teachers-study', '--seeds', '0', '1')
    det = akd_demo.TASKS['det']
    plan = akd_demo._plan(det, akd_demo._default_methods(det, args), args)
    three = (1, 2)
    assert _roles(plan) == [
        ('teacher', None, 0, ()), ('teacher', None, 1, ()),
        ('teacher', None, 2, ()), ('avatars', None, 0, three)
    ] + [(role, method, seed, three if '3 teachers' in method else ())
         for seed in (0, 1) for role, method in (
             ('student', 'CWD'), ('student', 'CWD (3 teachers)'),
             ('student', 'CWD + AKD'), ('student', 'CWD + AKD (3 teachers)'),
             ('student', 'CWD (inherit)'))]
    work = str(tmp_path / 'work')
    # The other teachers beside the demo's, trained as long; the students
    # and the evaluation in the demo's teacher's folder.
    assert [run.work_dir for run in plan[:4]] == [
        osp.join(work, 'det', 'teacher_600i'),
        osp.join(work, 'det', 'teacher_600i_seed1'),
        osp.join(work, 'det', 'teacher_600i_seed2'),
        osp.join(work, 'det', 'teacher_600i', 'eval_avatars_3_teachers')
    ]
    assert {run.iters for run in plan[:3]} == {600}
    assert plan[3].iters == 0 and plan[3].config == det.methods['CWD + AKD']
    assert plan[5].work_dir == osp.join(work, 'det', 'teacher_600i',
                                        'cwd_3_teachers_300i_seed0')
    # make demo: the Avatars evaluated with the demo's teacher only, and
    # CWD (inherit); no other teacher.
    args = _args(tmp_path)
    plan = akd_demo._plan(det, akd_demo._default_methods(det, args), args)
    assert _roles(plan) == [('teacher', None, 0, ()),
                            ('avatars', None, 0, ())] + [
        ('student', method, 0, ()) for method in
        ('no KD', 'CWD', 'CWD + AKD', 'CWD (inherit)')]
    assert plan[1].work_dir == osp.join(work, 'det', 'teacher_600i',
                                        'eval_avatars')
    # make demo-quick and chosen methods: as before, with no evaluation;
    # a chosen 3-teacher method brings its teachers.
    for argv, methods in ((['--quick'], akd_demo.QUICK_METHODS),
                          (['--methods', 'CWD'], ['CWD']),
                          (['--study'], det.study)):
        args = _args(tmp_path, *argv)
        plan = akd_demo._plan(det, akd_demo._default_methods(det, args)
                              if argv != ['--methods', 'CWD'] else methods,
                              args)
        assert 'avatars' not in [run.role for run in plan], argv
        assert [run.seed for run in plan if run.role == 'teacher'] == [0]
    args = _args(tmp_path, '--methods', 'CWD + AKD (3 teachers)')
    plan = akd_demo._plan(det, args.methods, args)
    assert _roles(plan) == [('teacher', None, 0, ()), ('teacher', None, 1, ()),
                            ('teacher', None, 2, ()),
                            ('student', 'CWD + AKD (3 teachers)', 0, three)]


def _load_eval_avatars():
    """tools/analysis_tools/eval_avatars.py as a module."""
    spec = importlib.util.spec_from_file_location(
        'akd_demo_test_eval_avatars', train_process.EVAL_AVATARS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('task,study', [('det', True), ('seg', False)])
def test_the_evaluation_is_an_eval_avatars_command(tmp_path, task, study):
    """eval_avatars.py reads of the command: the CWD + AKD config on the
    demo's data, the teacher, ensembles of 4 and 8, seed 0, the results in
    the evaluation's folder and, in the study, the other teachers."""
    args = _args(tmp_path, *(['--teachers-study'] if study else []))
    task = akd_demo.TASKS[task]
    (run, ) = [run for run in akd_demo._plan(
        task, akd_demo._default_methods(task, args), args)
        if run.role == 'avatars']
    made_from = {'teacher': '/t/iter_600.pth',
                 'teacher_seed1': '/t1/iter_600.pth',
                 'teacher_seed2': '/t2/iter_600.pth'}
    command = akd_demo._eval_command(run, made_from, args.data_root)
    assert command[:len(train_process.PYTHON_OPTIONS) + 2] == [
        sys.executable, *train_process.PYTHON_OPTIONS,
        train_process.EVAL_AVATARS]
    tool = _load_eval_avatars()
    parsed = tool.parse_args(command[len(train_process.PYTHON_OPTIONS) + 2:])
    config, overrides = task.methods['CWD + AKD']
    assert (parsed.config, parsed.checkpoint) == (config, '/t/iter_600.pth')
    assert parsed.teacher_ckpts == (['/t1/iter_600.pth', '/t2/iter_600.pth']
                                    if study else [])
    assert parsed.num_avatars == [4, 8] and parsed.seed == 0
    assert parsed.out == osp.join(run.work_dir, 'eval_avatars.json')
    cfg = tool.load_distill_config(parsed.config, parsed.cfg_options)
    root = str(tmp_path / 'data') + '/'
    assert cfg.val_dataloader.dataset.data_root == root
    if task.name == 'det':
        assert cfg.val_evaluator.ann_file == \
            root + 'annotations/instances_val.json'
    assert cfg.model.distiller.uncertainty == overrides[
        'model.distiller.uncertainty']
    # The distiller's default Avatars: element dropout, p = 0.1.
    generator = tool.build_generator(
        cfg.model.distiller.get('avatar_generator'), parsed.perturbation,
        parsed.strength)
    assert tool.perturbation_cfg(generator) == [
        dict(type='ElementDropout', p=0.1)]


def _teachers_args(work_dir, *extra) -> list:
    return ['--teachers-study', '--tasks', 'det', '--seeds', '0', '1',
            '--iters', '2', '--teacher-iters', '2', '--work-dir',
            str(work_dir), '--data-root', str(work_dir.parent / 'data'),
            *extra]


def test_teachers_study_passes_each_run_its_teachers_and_reuses_them(
        tmp_path, monkeypatch, capsys):
    made = _fake_runs(tmp_path, monkeypatch)
    argv = _teachers_args(tmp_path / 'work')
    assert akd_demo.main(argv) == 0
    out = capsys.readouterr().out
    det = akd_demo.TASKS['det']
    args = akd_demo.parse_args(argv)
    dirs = [akd_demo._teacher_dir(det, args, seed) for seed in (0, 1, 2)]
    ckpts = [osp.join(d, 'iter_2.pth') for d in dirs]
    for seed in (1, 2):
        assert made[f'teacher_2i_seed{seed}']['randomness.seed'] == seed
        assert 'model.teacher_ckpt' not in made[f'teacher_2i_seed{seed}']
    for seed in (0, 1):
        student = made[f'cwd+akd_3_teachers_2i_seed{seed}']
        assert [student[f'model.teachers.t{k}.ckpt'] for k in range(3)] == \
            ckpts
        assert student['randomness.seed'] == seed
        assert not any(key.startswith('model.teachers') for key in
                       made[f'cwd+akd_2i_seed{seed}'])
        assert made[f'cwd_inherit_2i_seed{seed}']['model.inherit'] is True
    evaluation = made['eval_avatars_3_teachers']
    at = evaluation.index('--teacher-ckpts')
    assert evaluation[3 + len(train_process.PYTHON_OPTIONS)] == ckpts[0]
    assert evaluation[at + 1:at + 3] == ckpts[1:]
    log = osp.join(dirs[0], 'eval_avatars_3_teachers', 'console.log')
    # Its command first, then its output: one intra-op thread.
    assert open(log).read().splitlines()[1] == \
        'a fake evaluation; OMP_NUM_THREADS 1'
    lines = [line for line in out.splitlines()
             if line.startswith('[akd_demo') and ' det ' in line]
    assert len(lines) == 4 + 2 * 5
    assert ' det 2/14 teacher (retinanet_r18-w32_fpn_1500i_digit-scenes.py, '\
        'seed 1): training 2 iterations' in lines[1]
    assert ' det 4/14 the teacher and its Avatars as inference models (1, 4 '\
        'and 8 Avatars, 3 teachers): evaluating ... mAP: teacher 0.600, 1 '\
        'Avatar 0.590, 4-Avatar ensemble 0.590, 8-Avatar ensemble 0.590, '\
        'teacher ensemble (3) 0.650' in lines[3]
    # The tables: the students against CWD, seed by seed (+0.05 with three
    # teachers, +0.02 inheriting), and the teachers as inference models.
    assert '| det | mAP (mean ± std) | per seed | minus CWD, paired (mean ± '\
        'std) | above CWD | s/iter | runs |' in out
    assert '| teacher (seed 1) | 0.510 | | | | 0.250 | 1 |' in out
    assert '| teacher (seed 2) | 0.520 | | | | 0.250 | 1 |' in out
    assert '| CWD | 0.505 ± 0.007 | 0.500, 0.510 |  |  | 0.250 | 2 |' in out
    assert '| CWD (3 teachers) | 0.555 ± 0.007 | 0.550, 0.560 | +0.050 ± '\
        '0.000 | 2/2 |' in out
    assert '| CWD + AKD | 0.505 ± 0.007 | 0.500, 0.510 | +0.000 ± 0.000 | '\
        '0/2 |' in out
    assert '| CWD + AKD (3 teachers) | 0.555 ± 0.007 | 0.550, 0.560 | '\
        '+0.050 ± 0.000 | 2/2 |' in out
    assert '| CWD (inherit) | 0.525 ± 0.007 | 0.520, 0.530 | +0.020 ± '\
        '0.000 | 2/2 |' in out
    assert '| det: inference | mAP | minus teacher | members | seconds |' \
        in out
    assert '| 8-Avatar ensemble | 0.590 | -0.010 | 8 | 4.00 |' in out
    assert '| teacher ensemble (3) | 0.650 | +0.050 | 3 | 1.50 |' in out
    written = (tmp_path / 'work' / 'results_teachers.md').read_text()
    assert written.strip() in out
    # A second study reuses every run and the evaluation.
    made.clear()
    assert akd_demo.main(argv) == 0
    assert made == {} and capsys.readouterr().out.count('reusing') == 14
    # A teacher of seed 1 trained again (another file time): what it made
    # is made again, the rest reused.
    os.utime(ckpts[1], (1, 1))
    assert akd_demo.main(argv) == 0
    assert sorted(made) == sorted(
        ['eval_avatars_3_teachers'] +
        [f'{m}_3_teachers_2i_seed{s}' for m in ('cwd', 'cwd+akd')
         for s in (0, 1)])
    capsys.readouterr()
    # make demo's evaluation (the demo's teacher only) is its own.
    made.clear()
    assert akd_demo.main(argv[1:4] + ['0'] + argv[6:]) == 0
    assert sorted(made) == ['eval_avatars', 'no_kd_2i_seed0']
    out = capsys.readouterr().out
    assert '| det | mAP | s/iter | runs |' in out
    assert '| CWD (inherit) | 0.520 | 0.250 | 1 |' in out
    assert '| 8-Avatar ensemble | 0.590 | -0.010 | 8 | 4.00 |' in out
    assert 'teacher ensemble' not in out


def test_without_a_teacher_of_another_seed_its_runs_are_skipped(
        tmp_path, monkeypatch, capsys):
    made = _fake_runs(tmp_path, monkeypatch, fail='teacher_2i_seed2')
    assert akd_demo.main(_teachers_args(tmp_path / 'work')) == 1
    out = capsys.readouterr().out
    assert 'CWD (3 teachers), seed 0: skipped, its teacher of seed 2 ' \
        'failed' in out
    assert 'the teacher and its Avatars as inference models (1, 4 and 8 ' \
        'Avatars, 3 teachers): skipped, its teacher of seed 2 failed' in out
    assert not any('3_teachers' in name for name in made)
    assert '| CWD (inherit) | 0.525 ± 0.007 |' in out
    assert '(3 teachers) |' not in out and ': inference |' not in out
    assert '| teacher (seed 1) | 0.510 |' in out


def test_an_evaluation_that_fails_is_reported_and_the_students_go_on(
        tmp_path, monkeypatch, capsys):
    _fake_runs(tmp_path, monkeypatch, fail='eval_avatars')
    work = tmp_path / 'work'
    assert akd_demo.main(['--tasks', 'seg', '--iters', '2',
                          '--teacher-iters', '2', '--work-dir', str(work),
                          '--data-root', str(tmp_path / 'data')]) == 1
    out = capsys.readouterr().out
    log = work / 'seg' / 'teacher_2i' / 'eval_avatars' / 'console.log'
    assert f'failed (exit status 3); its full output: {log}' in out
    assert '| CWD (inherit) | 52.000 | 0.250 | 1 |' in out
    assert ': inference |' not in out


def test_the_avatars_table_gives_each_model_against_the_teacher():
    seg = akd_demo.TASKS['seg']
    text = akd_demo_report.avatars_table(seg, dict(
        rows=[dict(model='teacher', members=1, metric=67.25, seconds=2.0),
              dict(model='1 Avatar', members=1, metric=66.0, seconds=2.1),
              dict(model='4-Avatar ensemble', members=4, metric=67.5,
                   seconds=8.25)],
        samples=300, perturbation=[dict(type='ElementDropout', p=0.1)],
        points=dict(logits='decode_head.conv_seg'), seed=0,
        config='akd-cwd_logits.py'))
    assert text.splitlines()[:5] == [
        '| seg: inference | mIoU | minus teacher | members | seconds |',
        '|---|---|---|---|---|',
        '| teacher | 67.250 |  | 1 | 2.00 |',
        '| 1 Avatar | 66.000 | -1.250 | 1 | 2.10 |',
        '| 4-Avatar ensemble | 67.500 | +0.250 | 4 | 8.25 |']
    assert '(type=ElementDropout, p=0.1 at decode_head.conv_seg, draws of ' \
        'seed 0, as in akd-cwd_logits.py)' in text
    assert '300 validation samples' in text


def test_time_left_counts_evaluations_once_one_is_timed(tmp_path):
    det, seg = akd_demo.TASKS['det'], akd_demo.TASKS['seg']
    plan = [
        akd_demo.Run(det, None, 0, 100, str(tmp_path / 't'), role='teacher'),
        akd_demo.Run(det, None, 0, 0, str(tmp_path / 'e'), role='avatars'),
        akd_demo.Run(det, 'CWD', 0, 100, str(tmp_path / 's')),
        akd_demo.Run(seg, None, 0, 0, str(tmp_path / 'e2'), role='avatars'),
    ]
    progress = akd_demo.Progress(plan, verbose=False)
    progress.begin('teacher')
    progress._started -= 60  # 0.6 s/iter
    progress.end('done', trained=True)
    assert progress.time_left() == \
        'about 1.0 min left (+ 2 evaluations not timed yet)'
    progress.begin('evaluation')
    progress._started -= 30
    progress.end('done', trained=True)
    # 60 s of training, 30 s for the other evaluation.
    assert progress.time_left() == 'about 1.5 min left'
    progress.begin('student')
    progress.end('done', trained=True)
    assert progress.time_left() == 'about 30 s left'


def test_slugs_of_the_new_methods(tmp_path):
    args = _args(tmp_path, '--teachers-study')
    seg = akd_demo.TASKS['seg']
    assert [osp.basename(akd_demo._student_dir(seg, m, 1, args))
            for m in seg.teachers_study] == [
        'cwd_900i_seed1', 'cwd_3_teachers_900i_seed1', 'cwd+akd_900i_seed1',
        'cwd+akd_3_teachers_900i_seed1', 'cwd_inherit_900i_seed1']


@pytest.mark.slow
def test_teachers_study_runs_end_to_end(tmp_path):
    """Three teachers, eval_avatars.py on them and the five students, each a
    real process on tiny data: the 3-teacher students load the three
    teachers the demo trained, CWD (inherit) copies the teacher's neck and
    head."""
    work_dir = tmp_path / 'work'
    out = run_demo('--teachers-study', '--tasks', 'det', '--seeds', '0',
                   '--iters', '2', '--teacher-iters', '2', '--work-dir',
                   str(work_dir), '--data-root', str(tmp_path / 'data'),
                   '--num-scenes', '24', '8').stdout
    teacher_dir = work_dir / 'det' / 'teacher_2i'
    ckpts = [json.loads((work_dir / 'det' / name / 'result.json').read_text())
             ['checkpoint'] for name in ('teacher_2i', 'teacher_2i_seed1',
                                         'teacher_2i_seed2')]
    assert len(set(ckpts)) == 3 and all(map(osp.exists, ckpts))
    results = json.loads((teacher_dir / 'eval_avatars_3_teachers' /
                          'eval_avatars.json').read_text())
    assert [row['model'] for row in results['rows']] == [
        'teacher', '1 Avatar', '4-Avatar ensemble', '8-Avatar ensemble',
        'teacher ensemble (3)']
    assert results['checkpoint'] == ckpts[0]
    assert results['teacher_ckpts'] == ckpts[1:]
    assert '| det: inference | mAP | minus teacher |' in out
    log = (teacher_dir / 'cwd+akd_3_teachers_2i_seed0' /
           'console.log').read_text()
    first = shlex.split(log.split('\n', 1)[0])
    for k, ckpt in enumerate(ckpts):
        assert f'model.teachers.t{k}.ckpt={ckpt}' in first
    assert 'akd_spread' in log
    log = (teacher_dir / 'cwd_inherit_2i_seed0' / 'console.log').read_text()
    assert re.search(r'inherit: copied \d+ tensors', log)
    for method in ('CWD', 'CWD (3 teachers)', 'CWD + AKD',
                   'CWD + AKD (3 teachers)', 'CWD (inherit)'):
        assert out.count(f'| {method} |') == 1, out


@pytest.mark.slow
def test_make_demo_evaluates_the_avatars_end_to_end(tmp_path):
    """The default run (not --quick) on tiny data, segmentation: the
    teacher, eval_avatars.py (teacher, 1, 4 and 8 Avatars, no other
    teacher) and the four students."""
    work_dir = tmp_path / 'work'
    out = run_demo('--tasks', 'seg', '--iters', '2', '--teacher-iters', '2',
                   '--work-dir', str(work_dir), '--data-root',
                   str(tmp_path / 'data'), '--num-scenes', '24', '8').stdout
    assert not (work_dir / 'seg' / 'teacher_2i_seed1').exists()
    results = json.loads((work_dir / 'seg' / 'teacher_2i' / 'eval_avatars' /
                          'eval_avatars.json').read_text())
    assert [row['model'] for row in results['rows']] == [
        'teacher', '1 Avatar', '4-Avatar ensemble', '8-Avatar ensemble']
    assert results['points'] == dict(logits='decode_head.conv_seg')
    assert '| seg: inference | mIoU | minus teacher |' in out
    assert '| CWD (inherit) |' in out
    log = (work_dir / 'seg' / 'teacher_2i' / 'cwd_inherit_2i_seed0' /
           'console.log').read_text()
    assert re.search(r'inherit: copied \d+ tensors', log)


def test_data_is_generated_aside_and_renamed_into_place(tmp_path,
                                                        monkeypatch):
    """Two demos started at once (one per task) never see a half-written
    data set: each writes its own folder and renames it into place; the
    second keeps the first's."""
    root = tmp_path / 'data'
    writes = []

    def create(out_dir, num_train, num_val):
        writes.append(out_dir)
        assert out_dir == f'{root}.partial-{os.getpid()}'
        assert not root.joinpath('meta.json').exists()
        os.makedirs(osp.join(out_dir, 'annotations'))
        with open(osp.join(out_dir, 'meta.json'), 'w') as f:
            f.write(f'{num_train} {num_val}')

    monkeypatch.setattr(akd_demo, 'create_digit_scenes', create)
    args = _args(tmp_path, '--num-scenes', '24', '8')
    root.mkdir()  # an empty folder is replaced
    akd_demo.ensure_data(args)
    assert (root / 'meta.json').read_text() == '24 8'
    assert sorted(os.listdir(tmp_path)) == ['data']
    akd_demo.ensure_data(args)  # there already: nothing written
    assert len(writes) == 1

    # Another demo renames its data set into place while this one writes.
    other = tmp_path / 'other'

    def create_late(out_dir, num_train, num_val):
        create(out_dir, num_train, num_val)
        other.mkdir()
        (other / 'meta.json').write_text('the other demo')
        os.rename(other, args.data_root)

    shutil.rmtree(root)
    monkeypatch.setattr(akd_demo, 'create_digit_scenes', create_late)
    akd_demo.ensure_data(args)
    assert (root / 'meta.json').read_text() == 'the other demo'
    assert sorted(os.listdir(tmp_path)) == ['data']
    # Files that are no data set of the demo's are not written into.
    (root / 'meta.json').rename(root / 'notes.txt')
    with pytest.raises(RuntimeError, match='holds files but no meta.json'):
        akd_demo.ensure_data(args)
