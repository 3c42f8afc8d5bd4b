"""The main job end to end, on a tiny setting."""
import json
import os.path as osp
import subprocess
import sys

from helpers import REPO_ROOT


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
