"""One training run as its own ``tools/train.py`` process.

:func:`train_command` makes the command line from a config and the
overrides to merge into it (as ``--cfg-options``), :func:`train` runs it
with its command and output in a log and returns the log dir that mmengine's
Runner wrote, where :func:`read_scalars` reads what the run logged.
The demo (:mod:`.demo`) trains each of its runs this way.
"""
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
from typing import Any, List, Set

from .paths import REPO_ROOT

#: The repository's ``tools/train.py``.
TRAIN_PY = osp.join(REPO_ROOT, 'tools', 'train.py')
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


def execute(command: List[str], log_path: str, verbose: bool) -> int:
    """Runs ``command``; writes it, then its stdout and stderr, to a log.

    Args:
        command: The program and its arguments.
        log_path: The log, written afresh; its first line is ``command``
            as a shell takes it.
        verbose: Print the output on the console too.

    Returns:
        int: The exit status of ``command``.
    """
    with open(log_path, 'wb') as log_file:
        log_file.write(shlex.join(command).encode() + b'\n')
        log_file.flush()
        with subprocess.Popen(command, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) as proc:
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
