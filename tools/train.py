"""Train a model with mmengine's Runner (the interface of mmdet's train.py).

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--auto-scale-lr]
        [--resume [CHECKPOINT]] [--cfg-options KEY=VALUE ...]
        [--launcher {none,pytorch,slurm,mpi}]

``mmakd`` is imported first, so its fixes (docs/process-changes.md) apply
even to configs without ``custom_imports=dict(imports=['mmakd'])``.
Distributed runs without CUDA run on gloo (``mmakd.engine.runner``).
"""
import argparse
import os
from typing import Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

import mmakd  # noqa: F401  (its fixes before any config is loaded)
from mmakd.engine.runner import (build_runner, run_then_close,
                                 warn_unseeded_resume)
from mmakd.utils import default_cpu_threads, load_tool_config


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses train.py's command line."""
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training (fp16)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the real total batch size')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, from the latest '
        'checkpoint in the work directory')
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
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def apply_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Applies ``--amp``, ``--auto-scale-lr`` and ``--resume`` to ``cfg``.

    Raises:
        RuntimeError: ``--auto-scale-lr`` with a config lacking
            ``auto_scale_lr.enable`` and ``auto_scale_lr.base_batch_size``.
    """
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr') or {}
        if 'enable' not in scale or 'base_batch_size' not in scale:
            raise RuntimeError(
                '--auto-scale-lr needs "auto_scale_lr.enable" and '
                '"auto_scale_lr.base_batch_size" in the config')
        cfg.auto_scale_lr.enable = True
    # An explicit checkpoint wins over finding the latest in work_dir.
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Trains the model of a config file."""
    args = parse_args(argv)
    cfg = apply_train_args(
        load_tool_config(args.config, args.launcher, args.cfg_options,
                         args.work_dir), args)
    # On the CPU, one intra-op thread unless OMP_NUM_THREADS says otherwise:
    # on a small shared CPU the default threads collapse under contention
    # (docs/performance.md, "CPU threads").
    if not torch.cuda.is_available() and default_cpu_threads() is not None:
        print_log(
            'torch uses 1 intra-op CPU thread; set OMP_NUM_THREADS to '
            'choose another number',
            logger='current')
    warn_unseeded_resume(cfg)
    run_then_close(lambda: build_runner(cfg).train())


if __name__ == '__main__':
    main()
