"""Test (and evaluate) a checkpoint with mmengine's Runner.

Usage::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
        [--show-dir DIR] [--cfg-options KEY=VALUE ...]
        [--launcher {none,pytorch,slurm,mpi}]

The interface of mmdet's test.py. Like ``tools/train.py``, it imports
``mmakd`` first.
"""
import argparse
import inspect
import os
from typing import Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults
from mmengine.logging import print_log
from mmengine.registry import HOOKS

import mmakd  # noqa: F401  (its fixes before any config is loaded)
from mmakd.engine.runner import build_runner, run_then_close
from mmakd.utils import load_tool_config
from mmakd.utils.checkpoint_guard import check_checkpoint_file


def enable_visualization(cfg: Config, show_dir: str) -> None:
    """Turns on ``default_hooks.visualization`` and saves drawings to show_dir.

    mmdet's hook takes the folder as ``test_out_dir`` (under the run's log
    dir); hooks without it (mmseg's) save through ``visualizer.save_dir``.

    Raises:
        RuntimeError: if the config has no visualization hook.
    """
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise RuntimeError(
            '--show-dir needs a VisualizationHook in default_hooks, e.g. '
            "default_hooks.visualization=dict(type='DetVisualizationHook')")
    hook['draw'] = True
    hook_cls = hook['type']
    if isinstance(hook_cls, str):
        with HOOKS.switch_scope_and_registry(
                cfg.get('default_scope')) as registry:
            hook_cls = registry.get(hook_cls)
    if hook_cls is not None and 'test_out_dir' in inspect.signature(
            hook_cls).parameters:
        hook['test_out_dir'] = show_dir
    else:
        cfg.visualizer.save_dir = show_dir


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses test.py's command line."""
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument(
        '--out', help='dump the predictions to this pickle (.pkl) file')
    parser.add_argument(
        '--show-dir',
        help='save drawn predictions here (relative paths are under '
        'work_dir/<timestamp>/ for mmdet models)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy pairs merged into the '
        'config; lists as key="[a,b]" or key=a,b, nested as '
        'key="[(a,b),(c,d)]" (quotes needed, no white space)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank (older); torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error('--out must be a .pkl or .pickle file')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def evaluate(cfg: Config, out: Optional[str] = None) -> None:
    """Runs the test loop of ``cfg``; dumps the predictions to ``out``.

    A distillation checkpoint given for a plain model's config stops here
    (mmengine would load none of its weights, with a warning).
    """
    runner = build_runner(cfg)
    check_checkpoint_file(runner.model, cfg.load_from)
    if out is not None:
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=out))
    runner.test()


def skip_teacher_ckpt(cfg: Config) -> None:
    """A distillation checkpoint holds its teachers: ``teacher_ckpt`` and
    each ``teachers.<name>.ckpt`` are not loaded (so they need not exist
    where the model is tested)."""
    model = cfg.get('model') or {}
    keys = [('model.teacher_ckpt', model, 'teacher_ckpt')] + [
        (f'model.teachers.{name}.ckpt', entry, 'ckpt')
        for name, entry in (model.get('teachers') or {}).items()
        if isinstance(entry, dict)
    ]
    for key, owner, field in keys:
        if owner.get(field):
            print_log(
                f'{key} ({owner[field]}) is not loaded: the teacher comes '
                'from the tested checkpoint',
                logger='current')
            owner[field] = None


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Evaluates a checkpoint on the config's test set."""
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options,
                           args.work_dir)
    cfg.load_from = args.checkpoint
    skip_teacher_ckpt(cfg)
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    run_then_close(lambda: evaluate(cfg, args.out))


if __name__ == '__main__':
    main()
