"""The main job: its options, and end to end on a tiny setting."""
import json
import os.path as osp
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


def test_demo_runs_end_to_end(tmp_path):
    work_dir, data_root = tmp_path / 'work', tmp_path / 'data'
    tiny = ('--quick', '--iters', '2', '--teacher-iters', '2', '--work-dir',
            str(work_dir), '--data-root', str(data_root))
    out = run_demo(*tiny, '--num-scenes', '24', '8').stdout
    for task, metric in (('det', 'mAP'), ('seg', 'mIoU')):
        assert f'| {task} | {metric} | s/iter | runs |' in out
    for method in ('teacher', 'no KD', 'CWD', 'CWD + AKD'):
        assert out.count(f'| {method} |') == 2  # one row per task
    assert osp.exists(work_dir / 'curves_quick.png')
    assert (work_dir / 'results_quick.md').read_text().strip() in out
    assert osp.exists(data_root / 'annotations' / 'instances_val.json')
    # The students were distilled from the teacher the demo trained.
    teacher = json.loads(
        (work_dir / 'det' / 'teacher_2i_quick' / 'result.json').read_text())
    assert osp.exists(teacher['checkpoint'])
    # A second run reuses every trained model instead of training again.
    again = run_demo(*tiny, '--tasks', 'det').stdout
    assert 'training' not in again
    assert again.count('reusing') == 4


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
    assert akd_demo._default_methods(det, study) == [
        'no KD', 'CWD', 'CWD + AKD', 'CWD + AKD (official)', 'FGD',
        'FGD + AKD'
    ]
    ablation = akd_demo.parse_args(['--ablation'])
    assert ablation.seeds == [0, 1, 2]
    assert akd_demo._default_methods(det, ablation) == [
        'CWD', 'CWD + AKD', 'CWD + AKD (N=4)', 'CWD + AKD (p=0.05)',
        'CWD + AKD (p=0.3)', 'CWD + AKD (no sigma)'
    ]
    assert akd_demo._default_methods(det, akd_demo.parse_args([])) == [
        'no KD', 'CWD', 'CWD + AKD'
    ]


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_each_ablation_variant_changes_its_one_setting(task):
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
            uncertainty=loss.uncertainty)

    reference = settings('CWD + AKD')
    assert reference == dict(num_avatars=1, p=[0.1], uncertainty='paper')
    changed = {
        'CWD + AKD (N=4)': dict(num_avatars=4),
        'CWD + AKD (p=0.05)': dict(p=[0.05]),
        'CWD + AKD (p=0.3)': dict(p=[0.3]),
        'CWD + AKD (no sigma)': dict(uncertainty='none'),
    }
    assert sorted(changed) == sorted(akd_demo.TASKS[task].ablation)
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
