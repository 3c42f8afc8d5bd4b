"""tools/train.py, tools/test.py and the dist_*.sh launchers.

The command-line handling is checked in this process; the scripts then run
for real in subprocesses on a tiny single-teacher distillation
(``tests/data/toy_kd.py``: SingleTeacherDistill + ConfigurableDistiller with
MMRazor's KLDivergence, ToyNet 16 -> 4 channels, generated data): train a few
iterations, evaluate the checkpoint, resume, and the same with two CPU
processes through torchrun and gloo.
"""
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import pytest
import torch
from helpers import (REPO_ROOT, TESTS_DATA, TOY_KD_CONFIG, free_port,
                     load_tool, run_tool, toy_config)

from mmakd.utils import load_tool_config

if TESTS_DATA not in sys.path:  # toy_kd.py's custom_imports, in process
    sys.path.insert(0, TESTS_DATA)


train_py = load_tool('train.py')
test_py = load_tool('test.py')

# ------------------------------------------------- command line, in process


@pytest.mark.parametrize('tool', [train_py, test_py])
@pytest.mark.parametrize('flag', ['--local_rank', '--local-rank'])
def test_local_rank_flags_export_local_rank(tool, flag, monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    argv = [TOY_KD_CONFIG] + (['ckpt.pth'] if tool is test_py else [])
    args = tool.parse_args(argv + [flag, '3'])
    assert args.local_rank == 3
    assert os.environ['LOCAL_RANK'] == '3'
    # torchrun's LOCAL_RANK wins over the flag.
    monkeypatch.setenv('LOCAL_RANK', '1')
    tool.parse_args(argv + [flag, '3'])
    assert os.environ['LOCAL_RANK'] == '1'


def _train_cfg(*argv: str):
    args = train_py.parse_args([TOY_KD_CONFIG, *argv])
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options,
                           args.work_dir)
    return train_py.apply_train_args(cfg, args)


def test_train_work_dir_defaults_like_mmdet(monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '0')
    assert _train_cfg().work_dir == os.path.join('./work_dirs', 'toy_kd')
    assert _train_cfg('--work-dir', 'wd').work_dir == 'wd'
    assert _train_cfg('--cfg-options',
                      'work_dir=from_cfg').work_dir == 'from_cfg'


def test_train_options(monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '0')
    cfg = _train_cfg()
    assert (cfg.resume, cfg.load_from, cfg.launcher) == (False, None, 'none')
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.auto_scale_lr.enable is False

    cfg = _train_cfg('--resume')
    assert (cfg.resume, cfg.load_from) == (True, None)  # latest in work_dir
    cfg = _train_cfg('--resume', 'x/iter_2.pth')
    assert (cfg.resume, cfg.load_from) == (True, 'x/iter_2.pth')

    cfg = _train_cfg('--amp', '--auto-scale-lr', '--launcher', 'pytorch',
                     '--cfg-options', 'train_cfg.max_iters=7')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.auto_scale_lr.enable is True
    assert cfg.launcher == 'pytorch'
    assert cfg.train_cfg.max_iters == 7


def test_auto_scale_lr_needs_the_config_entry(monkeypatch):
    from mmengine.config import Config

    monkeypatch.setenv('LOCAL_RANK', '0')
    args = train_py.parse_args([TOY_KD_CONFIG, '--auto-scale-lr'])
    for scale in ({}, dict(auto_scale_lr=dict(enable=False))):
        cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper'), **scale))
        with pytest.raises(RuntimeError, match='auto_scale_lr'):
            train_py.apply_train_args(cfg, args)


def test_test_out_must_be_a_pickle(monkeypatch, capsys):
    monkeypatch.setenv('LOCAL_RANK', '0')
    with pytest.raises(SystemExit):
        test_py.parse_args([TOY_KD_CONFIG, 'c.pth', '--out', 'preds.json'])
    assert '.pkl' in capsys.readouterr().err


def test_show_dir_turns_on_the_visualization_hook():
    from mmengine.config import Config

    with pytest.raises(RuntimeError, match='VisualizationHook'):
        test_py.enable_visualization(toy_config(), 'show')

    det = Config(
        dict(
            default_scope='mmdet',
            default_hooks=dict(
                visualization=dict(type='DetVisualizationHook')),
            visualizer=dict(type='DetLocalVisualizer')))
    test_py.enable_visualization(det, 'show')
    assert det.default_hooks.visualization.draw is True
    assert det.default_hooks.visualization.test_out_dir == 'show'

    seg = Config(
        dict(
            default_scope='mmseg',
            default_hooks=dict(
                visualization=dict(type='SegVisualizationHook')),
            visualizer=dict(type='SegLocalVisualizer')))
    test_py.enable_visualization(seg, 'show')
    assert seg.default_hooks.visualization.draw is True
    assert 'test_out_dir' not in seg.default_hooks.visualization
    assert seg.visualizer.save_dir == 'show'


# ------------------------------------------------ the scripts, in subprocesses


def _accuracy(output: str) -> float:
    found = re.findall(r'toy/accuracy: ([0-9.]+)', output)
    assert found, output[-3000:]
    return float(found[-1])


def _student_predictions(checkpoint: Path) -> List[int]:
    """What the checkpoint's student predicts on the test set, here."""
    from mmakd_toys import ToyNet, ToyPatterns

    state = torch.load(checkpoint)['state_dict']
    student = ToyNet(channels=4)
    student.load_state_dict({
        k[len('architecture.'):]: v
        for k, v in state.items() if k.startswith('architecture.')
    })
    dataset = ToyPatterns(num_samples=64, seed=1)  # as toy_kd.py's test set
    with torch.no_grad():
        return student(dataset.inputs).argmax(dim=1).tolist()


@pytest.fixture(scope='module')
def trained(tmp_path_factory) -> Path:
    """``tools/train.py`` trains the toy distillation for 4 iterations."""
    work_dir = tmp_path_factory.mktemp('train')
    output = run_tool([
        sys.executable, 'tools/train.py', TOY_KD_CONFIG, '--work-dir',
        str(work_dir)
    ])
    assert 'distill.loss_kl' in output and 'student.loss_cls' in output
    assert 'Iter(train) [4/4]' in output
    _accuracy(output)  # validation ran
    for name in ('iter_2.pth', 'iter_4.pth', 'last_checkpoint'):
        assert (work_dir / name).is_file(), name
    return work_dir


def test_train_py_writes_a_distillation_checkpoint(trained):
    state = torch.load(trained / 'iter_4.pth')['state_dict']
    assert any(k.startswith('architecture.') for k in state)
    assert any(k.startswith('teacher.') for k in state)


def test_test_py_evaluates_the_checkpoint(trained, tmp_path):
    preds_file = tmp_path / 'preds.pkl'
    output = run_tool([
        sys.executable, 'tools/test.py', TOY_KD_CONFIG,
        str(trained / 'iter_4.pth'), '--work-dir',
        str(tmp_path), '--out',
        str(preds_file)
    ])
    dumped = pickle.loads(preds_file.read_bytes())
    expected = _student_predictions(trained / 'iter_4.pth')
    assert [d['pred_label'] for d in dumped] == expected
    correct = sum(d['pred_label'] == d['gt_label'] for d in dumped)
    assert _accuracy(output) == pytest.approx(100.0 * correct / 64)


def test_test_py_needs_no_teacher_ckpt(trained, tmp_path):
    """The teacher's weights are in the tested checkpoint."""
    output = run_tool([
        sys.executable, 'tools/test.py', TOY_KD_CONFIG,
        str(trained / 'iter_4.pth'), '--work-dir',
        str(tmp_path), '--cfg-options',
        f'model.teacher_ckpt={tmp_path / "absent.pth"}'
    ])
    assert 'is not loaded: the teacher comes from the tested' in output
    _accuracy(output)


def test_train_py_resume_without_path_continues_from_latest(trained, tmp_path):
    work_dir = tmp_path / 'resumed'
    shutil.copytree(trained, work_dir)
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_4.pth'))
    output = run_tool([
        sys.executable, 'tools/train.py', TOY_KD_CONFIG, '--work-dir',
        str(work_dir), '--resume', '--cfg-options', 'train_cfg.max_iters=6'
    ])
    assert 'resumed epoch: 0, iter: 4' in output
    assert 'Iter(train) [5/6]' in output
    assert 'Iter(train) [1/6]' not in output
    assert (work_dir / 'iter_6.pth').is_file()


def test_dist_train_sh_on_two_cpu_processes(tmp_path):
    """With the config's backend nccl (OpenMMLab's default): no flag needed
    on a machine without CUDA."""
    output = run_tool([
        'bash', 'tools/dist_train.sh', TOY_KD_CONFIG, '2', '--work-dir',
        str(tmp_path), '--cfg-options', 'env_cfg.dist_cfg.backend=nccl'
    ],
                  PORT=free_port())
    assert 'Distributed training: True' in output
    if not torch.cuda.is_available():
        assert output.count('the distributed backend is gloo') == 2
    # 64 validation samples, batch 16: 4 batches, 2 on each of the 2 ranks.
    assert 'Iter(val) [2/2]' in output
    assert 'Iter(train) [4/4]' in output
    assert (tmp_path / 'iter_4.pth').is_file()


def test_dist_test_sh_on_two_cpu_processes(trained, tmp_path):
    preds_file = tmp_path / 'preds.pkl'
    output = run_tool([
        'bash', 'tools/dist_test.sh', TOY_KD_CONFIG,
        str(trained / 'iter_4.pth'), '2', '--work-dir',
        str(tmp_path), '--out',
        str(preds_file)
    ],
                  PORT=free_port())
    assert 'Iter(test) [2/2]' in output
    # Both ranks' halves are gathered, in dataset order.
    dumped = pickle.loads(preds_file.read_bytes())
    assert [d['pred_label']
            for d in dumped] == _student_predictions(trained / 'iter_4.pth')


def _children(pid: int) -> List[int]:
    with open(f'/proc/{pid}/task/{pid}/children') as f:
        return [int(p) for p in f.read().split()]


def _local_rank(pid: int) -> Optional[str]:
    with open(f'/proc/{pid}/environ', 'rb') as f:
        env = dict(
            item.split(b'=', 1) for item in f.read().split(b'\0')
            if b'=' in item)
    return env.get(b'LOCAL_RANK', b'').decode() or None


@pytest.mark.slow
@pytest.mark.skipif(
    not Path('/proc/self/task').is_dir(), reason='needs Linux /proc')
def test_a_stopped_peer_ends_dist_train_sh_in_bounded_time(tmp_path):
    """A rank stopped with SIGSTOP (alive, never answering) makes its peer's
    next collective time out after ``env_cfg.dist_cfg.timeout``; torchrun
    then ends the run. Without a timeout gloo would wait 30 minutes."""
    timeout = 5
    env = {
        **os.environ, 'PYTHONPATH': TESTS_DATA,
        'PORT': free_port(),
        'OMP_NUM_THREADS': '1'
    }
    env.pop('LOCAL_RANK', None)
    log = open(tmp_path / 'log.txt', 'w')
    proc = subprocess.Popen([
        'bash', 'tools/dist_train.sh', TOY_KD_CONFIG, '2', '--work-dir',
        str(tmp_path), '--cfg-options', 'train_cfg.max_iters=100000',
        'train_cfg.val_interval=100000', 'default_hooks.checkpoint.interval='
        '100000', f'env_cfg.dist_cfg.timeout={timeout}'
    ],
                            cwd=REPO_ROOT,
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            start_new_session=True)
    stopped = None
    try:
        deadline = time.monotonic() + 120
        while 'Iter(train) [' not in (tmp_path / 'log.txt').read_text():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        workers = [
            p for child in _children(proc.pid) for p in _children(child)
        ]
        stopped = next(p for p in workers if _local_rank(p) == '1')
        os.kill(stopped, signal.SIGSTOP)
        start = time.monotonic()
        returncode = proc.wait(timeout=timeout + 90)
        elapsed = time.monotonic() - start
    finally:
        if stopped is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    output = (tmp_path / 'log.txt').read_text()
    assert returncode != 0, output[-3000:]
    assert elapsed < timeout + 60, output[-3000:]
    assert 'Timed out' in output or 'timed out' in output.lower()


@pytest.mark.parametrize('omp,one_thread', [(None, True), ('2', False)])
def test_train_py_uses_one_thread_unless_omp_num_threads(
        omp, one_thread, tmp_path):
    env = {} if omp is None else {'OMP_NUM_THREADS': omp}
    output = run_tool([
        sys.executable, 'tools/train.py', TOY_KD_CONFIG, '--work-dir',
        str(tmp_path), '--cfg-options', 'train_cfg.max_iters=1',
        'train_cfg.val_interval=1'
    ], unset=() if omp else ('OMP_NUM_THREADS', ), **env)
    # Only when training on the CPU.
    assert ('torch uses 1 intra-op CPU thread' in output) == (
        one_thread and not torch.cuda.is_available())
