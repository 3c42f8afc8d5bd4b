"""``python -m mmakd.run SCRIPT``: another package's script with mmakd
imported first, its argv, exit code and exceptions its own.

A script runs on 2 ranks under ``torchrun -m mmakd.run`` (gloo);
MMRazor's ``train.py`` trains the toy distillation through it; mmdet's and
mmseg's ``train.py`` train configs whose ``_base_`` is an ``mmakd::`` name
(slow); MMRazor's ``test.py`` and ``convert_kd_ckpt_to_student.py`` are run
through it in ``tests/test_tools/test_export_student.py``. (mmengine's
``--launcher pytorch`` sets a CUDA device, so MMRazor's ``train.py`` on
several ranks needs GPUs; on CPU, mmakd's ``tools/dist_train.sh`` trains on
2 ranks.)
"""
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from helpers import REPO_ROOT, TESTS_DATA, free_port, run_tool

LAUNCH = [sys.executable, '-m', 'mmakd.run']
MMRAZOR_TOOLS = Path(__import__('mmrazor').__file__).parent / '.mim' / 'tools'


def _launch(args: List[str],
            cwd: str = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*LAUNCH, *args],
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          timeout=300)


SCRIPT = '''
import sys
import mmakd_compat
print('argv', sys.argv)
print('mmakd', 'mmakd' in sys.modules, __name__)
print('path0', sys.path[0])
code = int(sys.argv[1]) if len(sys.argv) > 1 else 0
if code == 99:
    raise KeyError('from the script')
sys.exit(code)
'''


@pytest.fixture
def script(tmp_path) -> Path:
    path = tmp_path / 'their_tool.py'
    path.write_text(SCRIPT)
    return path


def test_the_script_runs_as_main_after_mmakd(script, tmp_path):
    proc = _launch([str(script), '0', '--flag', 'x'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert f"argv ['{script}', '0', '--flag', 'x']" in lines
    assert 'mmakd True __main__' in lines
    assert f'path0 {tmp_path}' in lines


@pytest.mark.parametrize('code', [0, 3])
def test_the_scripts_exit_code_passes_through(script, code):
    assert _launch([str(script), str(code)]).returncode == code


def test_the_scripts_exception_is_its_own(script):
    proc = _launch([str(script), '99'])
    assert proc.returncode == 1
    assert "KeyError: 'from the script'" in proc.stderr
    assert 'mmakd.run:' not in proc.stderr


@pytest.mark.parametrize('kind', ['missing', 'directory', 'binary', 'text'])
def test_what_is_not_a_python_script_exits_2(tmp_path, kind):
    path = tmp_path / 'thing'
    expected = {
        'missing': 'no such file',
        'directory': 'is a directory',
        'binary': 'is not a Python file',
        'text': 'is not a Python file'
    }[kind]
    if kind == 'directory':
        path.mkdir()
    elif kind == 'binary':
        path.write_bytes(b'\x00\x01\x02\xff')
    elif kind == 'text':
        path.write_text('a config: [not python\n')
    proc = _launch([str(path)])
    assert proc.returncode == 2
    assert f"mmakd.run: SCRIPT '{path}'" in proc.stderr
    assert expected in proc.stderr
    assert 'usage: python -m mmakd.run SCRIPT' in proc.stderr


def test_no_script_is_a_usage_error():
    proc = _launch([])
    assert proc.returncode == 2 and 'usage:' in proc.stderr


RANKS = '''
import sys
import torch
import torch.distributed as dist
dist.init_process_group('gloo')
value = torch.tensor([dist.get_rank() + 1.0])
dist.all_reduce(value)
# One write per rank: the two ranks share the pipe, and print() writes
# its arguments separately, so the lines could interleave.
sys.stdout.write(f'rank {dist.get_rank()} of {dist.get_world_size()} sum '
                 f"{int(value)} mmakd {'mmakd' in sys.modules} "
                 f'{sys.argv[1:]}\\n')
sys.stdout.flush()
dist.destroy_process_group()
'''


def test_a_script_on_2_ranks_under_torchrun(tmp_path):
    """``torchrun --nproc-per-node 2 -m mmakd.run SCRIPT ARGS``."""
    script = tmp_path / 'ranks.py'
    script.write_text(RANKS)
    out = run_tool([
        sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node',
        '2', '--master-port',
        free_port(), '-m', 'mmakd.run',
        str(script), '--launcher', 'pytorch'
    ])
    for rank in (0, 1):
        assert f"rank {rank} of 2 sum 3 mmakd True ['--launcher', " \
            "'pytorch']" in out, out[-3000:]


def test_mmrazor_train_py_through_the_launcher(tmp_path):
    """MMRazor's ``train.py`` imports ``mmrazor.models`` before it reads
    ``custom_imports``: without the launcher it stops on torch 2.x."""
    args = [
        str(MMRAZOR_TOOLS / 'train.py'),
        os.path.join(TESTS_DATA, 'toy_kd.py'), '--work-dir',
        str(tmp_path)
    ]
    out = run_tool([*LAUNCH, *args], OMP_NUM_THREADS='1')
    assert (tmp_path / 'iter_4.pth').is_file(), out[-3000:]
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert 'distill.loss_kl' in log
    plain = run_tool([sys.executable, *args], check=False)
    assert 'torch>=1.13' in plain or 'is used but incompatible' in plain


#: A user's AKD config, made as mmakd's AKD recipes are: a CWD recipe of
#: the Digit Scenes project (by its path), mmakd's AKD hooks (an ``mmakd::``
#: base) and AvatarDistiller; 2 iterations.
USER_CONFIG = '''
_base_ = ['{recipe}', 'mmakd::_base_/akd.py']
custom_hooks = _base_.akd_hooks
model = dict(teacher_ckpt=None, distiller=dict(type='AvatarDistiller'))
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
train_dataloader = dict(batch_size=2, dataset=dict(data_root='{root}/'))
val_dataloader = dict(dataset=dict(data_root='{root}/'))
test_dataloader = val_dataloader
'''
DET_EVAL = '''
val_evaluator = dict(ann_file='{root}/annotations/instances_val.json')
test_evaluator = val_evaluator
'''
PROJECT_CONFIGS = Path(REPO_ROOT) / 'projects' / 'digit_scenes' / 'configs'
RECIPES = {
    'mmdet':
    PROJECT_CONFIGS /
    'cwd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py',
    'mmseg':
    PROJECT_CONFIGS /
    'cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_digit-scenes.py',
}


@pytest.mark.slow
@pytest.mark.parametrize('package', ['mmdet', 'mmseg'])
def test_their_train_py_on_an_mmakd_base(package, data_root, tmp_path):
    """mmdet's and mmseg's ``train.py`` parse ``_base_`` before they read
    ``custom_imports``: the launcher is what resolves ``mmakd::``."""
    config = tmp_path / 'my_akd.py'
    text = USER_CONFIG.format(recipe=RECIPES[package], root=data_root)
    if package == 'mmdet':
        text += DET_EVAL.format(root=data_root)
    config.write_text(text)
    train = Path(__import__(package).__file__).parent / '.mim' / 'tools' / \
        'train.py'
    work_dir = tmp_path / 'work'
    plain = subprocess.run(
        [sys.executable, str(train), str(config)],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert plain.returncode != 0
    assert 'mmengine does not support to load mmakd config' in plain.stderr
    proc = subprocess.run(
        [*LAUNCH, str(train),
         str(config), '--work-dir',
         str(work_dir)],
        cwd=str(tmp_path),
        env={**os.environ, 'OMP_NUM_THREADS': '1'},
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    assert (work_dir / 'iter_2.pth').is_file()
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'distill.akd_sigma' in log  # Avatars ran
