"""One training run as its own ``tools/train.py`` process.

:func:`train_command` makes the command line from a config and the
overrides to merge into it (as ``--cfg-options``), :func:`train` runs it
with its command and output in a log and returns the log dir that mmengine's
Runner wrote, where :func:`read_scalars` reads what the run logged.
The demo (:mod:`.demo`) trains each of its runs this way, and evaluates
the teacher's Avatars the same way, with ``tools/analysis_tools/
eval_avatars.py`` (:func:`eval_avatars_command`, :func:`evaluate`).
"""
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
from typing import Any, Dict, List, Optional, Set

from .paths import REPO_ROOT

#: The repository's ``tools/train.py``.
TRAIN_PY = osp.join(REPO_ROOT, 'tools', 'train.py')
#: mmakd's tool that evaluates the teacher's Avatars as inference models.
EVAL_AVATARS = osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                        'eval_avatars.py')
#: Where :func:`eval_avatars_command` has the tool write its results, in
#: the evaluation's work dir.
EVAL_AVATARS_OUT = 'eval_avatars.json'
#: setuptools >= 67.5 warns when pkg_resources is imported, and mmengine
#: re-imports it on each installed-package check; only that message is
#: silenced.
PKG_RESOURCES_WARNING = 'pkg_resources is deprecated as an API'
#: Python's options for each run: unbuffered (the log keeps the order of
#: stdout and stderr), without the warning above.
PYTHON_OPTIONS = ['-u', '-W', f'ignore:{PKG_RESOURCES_WARNING}:UserWarning']


class RunFailed(RuntimeError):
    """A training run that gave no result."""


def train_command(config: str,
                  work_dir: str,
                  overrides: dict,
                  tensorboard: bool = False) -> List[str]:
    """The ``tools/train.py`` command line of one run.

    Args:
        config: The config file.
        work_dir: The run's work dir.
        overrides: Dotted keys merged into the config, as ``--cfg-options``.
        tensorboard: Train ``config`` with TensorBoard logging added
            (:func:`with_tensorboard`).
    """
    if tensorboard:
        config = with_tensorboard(config, work_dir)
    options = cfg_options(overrides)
    return [
        sys.executable, *PYTHON_OPTIONS, TRAIN_PY, config, '--work-dir',
        osp.abspath(work_dir)
    ] + (['--cfg-options', *options] if options else [])


def eval_avatars_command(config: str, work_dir: str, checkpoint: str,
                         overrides: dict, num_avatars: List[int],
                         teacher_ckpts: List[str], seed: int = 0
                         ) -> List[str]:
    """The ``eval_avatars.py`` command line of one evaluation.

    Args:
        config: The distillation config (its teacher and Avatars).
        work_dir: Where the results go (:data:`EVAL_AVATARS_OUT`).
        checkpoint: The teacher's checkpoint.
        overrides: Dotted keys merged into the config, as ``--cfg-options``.
        num_avatars: The sizes of the Avatar ensembles.
        teacher_ckpts: More teachers of the same config, for the ensemble
            of the teachers (none: no such row).
        seed: Of the Avatar draws.
    """
    options = cfg_options(overrides)
    return [
        sys.executable, *PYTHON_OPTIONS, EVAL_AVATARS, config, checkpoint,
        '--num-avatars', *map(str, num_avatars), '--seed', str(seed),
        '--out', osp.join(osp.abspath(work_dir), EVAL_AVATARS_OUT)
    ] + (['--teacher-ckpts', *teacher_ckpts] if teacher_ckpts else []) + (
        ['--cfg-options', *options] if options else [])


def with_tensorboard(config: str, work_dir: str) -> str:
    """Writes ``config`` plus ``TensorboardVisBackend`` (docs/tools.md,
    "TensorBoard"): ``--cfg-options`` cannot append to a list.

    The file is ``WORK_DIR/tensorboard/<config's name>``, as the Runner
    dumps the config it trains to ``WORK_DIR/<its name>``.

    Returns:
        str: The path of the config written.
    """
    path = osp.join(work_dir, 'tensorboard', osp.basename(config))
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(f'_base_ = {osp.abspath(config)!r}\n'
                'visualizer = dict(vis_backends=_base_.visualizer.vis_backends'
                " + [dict(type='TensorboardVisBackend')])\n")
    return path


def cfg_options(overrides: dict, prefix: str = '') -> List[str]:
    """``KEY=VALUE`` items of ``--cfg-options`` that merge as ``overrides``.

    ``Config.merge_from_dict`` merges a dict key by key, so a dict becomes
    one item per leaf; a list of dicts does too, index by index, which
    merges into the config's list of as many dicts.

    Args:
        overrides: Dotted keys and their values.
        prefix: Put before each key.

    Raises:
        ValueError: A value that ``--cfg-options`` would read as another.
    """
    items = []
    for key, value in overrides.items():
        if isinstance(value, list) and value and all(
                isinstance(v, dict) for v in value):
            value = {str(i): v for i, v in enumerate(value)}
        if isinstance(value, dict):
            items += cfg_options(value, f'{prefix}{key}.')
        else:
            items.append(f'{prefix}{key}={_option_text(value)}')
    return items


def _option_text(value: Any) -> str:
    """``value`` as mmengine's ``DictAction`` reads it back."""
    from mmengine.config import DictAction
    if isinstance(value, (list, tuple)):
        inner = ','.join(_option_text(v) for v in value)
        text = f'[{inner}]' if isinstance(value, list) else f'({inner})'
    else:
        text = str(value)
    read = DictAction._parse_iterable(text)
    if read != value:
        raise ValueError(f'--cfg-options cannot pass {value!r}: it would '
                         f'read {text!r} as {read!r}')
    return text


def execute(command: List[str], log_path: str, verbose: bool,
            env: Optional[Dict[str, str]] = None) -> int:
    """Runs ``command``; writes it, then its stdout and stderr, to a log.

    Args:
        command: The program and its arguments.
        log_path: The log, written afresh; its first line is ``command``
            as a shell takes it.
        verbose: Print the output on the console too.
        env: Set in the command's environment (beside this process's).

    Returns:
        int: The exit status of ``command``.
    """
    with open(log_path, 'wb') as log_file:
        log_file.write(shlex.join(command).encode() + b'\n')
        log_file.flush()
        with subprocess.Popen(command, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT,
                              env={**os.environ, **env} if env else
                              None) as proc:
            for line in proc.stdout:
                log_file.write(line)
                if verbose:
                    sys.stdout.write(line.decode(errors='replace'))
                    sys.stdout.flush()
    return proc.returncode


def train(command: List[str], work_dir: str, log_name: str,
          verbose: bool) -> str:
    """Runs a ``tools/train.py`` command; returns the log dir it wrote.

    Args:
        command: The command, from :func:`train_command`.
        work_dir: Its work dir.
        log_name: The log's file name in ``work_dir`` (:func:`execute`).
        verbose: Print the run's output on the console too.

    Raises:
        RunFailed: The run exited with an error or wrote no scalars.
    """
    os.makedirs(work_dir, exist_ok=True)
    before = set(os.listdir(work_dir))
    status = execute(command, osp.join(work_dir, log_name), verbose)
    if status != 0:
        raise RunFailed(f'exit status {status}')
    return _new_log_dir(work_dir, before)


def evaluate(command: List[str], work_dir: str, log_name: str,
             verbose: bool) -> dict:
    """Runs an ``eval_avatars.py`` command with one intra-op thread, unless
    ``OMP_NUM_THREADS`` says otherwise (as tools/train.py runs); returns
    the results it wrote.

    Args:
        command: The command, from :func:`eval_avatars_command`.
        work_dir: Its work dir.
        log_name: The log's file name in ``work_dir`` (:func:`execute`).
        verbose: Print its output on the console too.

    Raises:
        RunFailed: It exited with an error or wrote no results.
    """
    os.makedirs(work_dir, exist_ok=True)
    out = osp.join(work_dir, EVAL_AVATARS_OUT)
    if osp.exists(out):
        os.remove(out)  # an earlier evaluation's
    threads = None if 'OMP_NUM_THREADS' in os.environ else dict(
        OMP_NUM_THREADS='1')
    status = execute(command, osp.join(work_dir, log_name), verbose,
                     threads)
    if status != 0:
        raise RunFailed(f'exit status {status}')
    if not osp.exists(out):
        raise RunFailed(f'it wrote no {EVAL_AVATARS_OUT}')
    with open(out) as f:
        return json.load(f)


def _new_log_dir(work_dir: str, before: Set[str]) -> str:
    """The log dir a run added to ``work_dir`` (mmengine's Runner writes
    ``WORK_DIR/<its start time, %Y%m%d_%H%M%S>/vis_data/scalars.json``).

    Raises:
        RunFailed: The run added none.
    """
    made = [
        name for name in sorted(set(os.listdir(work_dir)) - before)
        if osp.isfile(osp.join(work_dir, name, 'vis_data', 'scalars.json'))
    ]
    if not made:
        raise RunFailed('it wrote no <timestamp>/vis_data/scalars.json')
    return osp.join(work_dir, made[-1])


def read_scalars(log_dir: str) -> List[dict]:
    """The records of mmengine's ``LocalVisBackend`` (its scalars.json)."""
    path = osp.join(log_dir, 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
