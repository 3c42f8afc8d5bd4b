"""Train a model with mmengine's Runner (the interface of mmdet's train.py).

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--auto-scale-lr]
        [--resume [CHECKPOINT]] [--cfg-options KEY=VALUE ...]
        [--launcher {none,pytorch,slurm,mpi}]

``mmakd`` is imported first, so its compatibility fixes (MMRazor on torch 2.x,
Runner checkpoints under ``weights_only``, strict ``teacher_ckpt``) apply even
to configs without ``custom_imports=dict(imports=['mmakd'])``.

``tools/test.py`` reuses :func:`add_common_args`, :func:`export_local_rank`,
:func:`load_config`, :func:`build_runner` and :func:`run_then_close`.
"""
import argparse
import gc
import logging
import os
import os.path as osp
from datetime import timedelta
from typing import Callable, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmakd  # noqa: F401  (compat fixes before any config is loaded)
from mmakd.utils import default_cpu_threads


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Adds the arguments that train.py and test.py share."""
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


def export_local_rank(args: argparse.Namespace) -> None:
    """Exports ``--local-rank`` as ``LOCAL_RANK`` unless a launcher set it."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))


def load_config(args: argparse.Namespace) -> Config:
    """Loads ``args.config`` with the launcher, overrides and work_dir.

    work_dir is, by priority: ``--work-dir``, the config's ``work_dir``,
    ``./work_dirs/<config file name without .py>``.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


#: Seconds a rank waits for its peers in a collective before the run stops
#: (``env_cfg.dist_cfg.timeout``). torch's default is 30 minutes for gloo
#: and 10 for nccl; a peer that hangs (stopped, deadlocked, swapping) then
#: ends the run in bounded time instead. Long evaluations on one rank while
#: the others wait (e.g. COCO on a huge test set) may need more.
DEFAULT_DIST_TIMEOUT = 600


def set_dist_defaults(cfg: Config) -> None:
    """Fills ``env_cfg.dist_cfg`` for distributed runs.

    ``timeout`` defaults to :data:`DEFAULT_DIST_TIMEOUT` seconds unless the
    config sets one. On a machine without CUDA an ``nccl`` backend (the
    OpenMMLab default) becomes ``gloo``, with a log line that says so.
    """
    if cfg.launcher == 'none':
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg.setdefault('timeout', DEFAULT_DIST_TIMEOUT)
    if not torch.cuda.is_available() and dist_cfg.get('backend',
                                                      'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
        print_log(
            'No CUDA device: the distributed backend is gloo '
            '(env_cfg.dist_cfg.backend=gloo) instead of nccl',
            logger='current',
            level=logging.WARNING)


class CPUDistributedRunner(Runner):
    """mmengine's Runner for distributed runs without CUDA: the model's
    ``SyncBatchNorm`` layers become ``BatchNorm`` before DDP wraps it.

    PyTorch's DDP refuses ``SyncBatchNorm`` on CPU ("SyncBatchNorm layers
    only work with GPU modules"), and recipes use it: ``SyncBN`` norms, and
    mmdet's RTMDet converts its own norms on more than one rank
    (``use_syncbn=True``). mmengine reverts them for a single process only.
    """

    def wrap_model(self, model_wrapper_cfg: Optional[dict],
                   model: torch.nn.Module) -> torch.nn.Module:
        synced = sum(
            isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
        if synced:
            print_log(
                f'No CUDA device: {synced} SyncBatchNorm layers run as '
                'BatchNorm (statistics of each rank\'s own batch)',
                logger='current',
                level=logging.WARNING)
            model = revert_sync_batchnorm(model)
        return super().wrap_model(model_wrapper_cfg, model)


def setup_cpu_distributed(cfg: Config) -> None:
    """Lets ``--launcher pytorch`` run without CUDA (``gloo`` backend).

    mmengine 0.10.7 calls ``torch.cuda.set_device`` before it starts the
    process group, and wraps the model in DDP with ``device_ids=[LOCAL_RANK]``;
    both need CUDA, and DDP refuses ``SyncBatchNorm`` on CPU. Without CUDA the
    process group is started here with ``env_cfg.dist_cfg`` (the Runner then
    skips its own start) and DDP gets ``device_ids=None``;
    :func:`build_runner` then builds a :class:`CPUDistributedRunner`.
    Nothing changes when CUDA is available.

    Raises:
        RuntimeError: if the config asks for ``nccl`` explicitly after
            :func:`set_dist_defaults` (which needs CUDA), or the launcher
            is ``slurm`` or ``mpi``, whose start in mmengine picks a CUDA
            device for each rank.
    """
    if (cfg.launcher == 'none' or torch.cuda.is_available()
            or torch.distributed.is_initialized()):
        return
    if cfg.launcher != 'pytorch':
        raise RuntimeError(
            f'No CUDA device: --launcher {cfg.launcher} needs one (mmengine '
            'starts it with torch.cuda.set_device on each rank); on CPU use '
            '--launcher pytorch, as tools/dist_train.sh does')
    dist_cfg = cfg.get('env_cfg', {}).get('dist_cfg', {})
    backend = dist_cfg.get('backend', 'nccl')
    if backend == 'nccl':
        raise RuntimeError(
            'No CUDA device: distributed runs on CPU need the gloo backend, '
            'e.g. --cfg-options env_cfg.dist_cfg.backend=gloo')
    timeout = dist_cfg.get('timeout')
    torch.distributed.init_process_group(
        backend=backend,
        timeout=None if timeout is None else timedelta(seconds=timeout))
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def build_runner(cfg: Config) -> Runner:
    """Builds the runner: ``RUNNERS.build`` if cfg has ``runner_type``, a
    :class:`CPUDistributedRunner` for a distributed run without CUDA, else
    mmengine's ``Runner``."""
    set_dist_defaults(cfg)
    setup_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    if cfg.launcher != 'none' and not torch.cuda.is_available():
        return CPUDistributedRunner.from_cfg(cfg)
    return Runner.from_cfg(cfg)


def close_distributed(synchronize: bool = True) -> None:
    """Ends the process group, if any, while Python is still fully alive.

    Call it once the runner is unreachable. gloo's worker threads release the
    tensors of finished collectives, which needs the GIL; if that happens
    while the interpreter is finalizing, the process aborts ("terminate called
    without an active exception") after its work is done. The barrier lets
    every queued collective finish; collecting the runner frees the last
    references to the group (DDP holds one), whose destructor joins those
    threads.

    Args:
        synchronize (bool): Wait for the other ranks first. False after an
            error, where a rank that crashed would never reach the barrier.
    """
    if not torch.distributed.is_initialized():
        return
    if synchronize:
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    gc.collect()


def run_then_close(job: Callable[[], None]) -> None:
    """Runs ``job``, then :func:`close_distributed`, without the barrier if
    ``job`` raised."""
    try:
        job()
    except BaseException:
        close_distributed(synchronize=False)
        raise
    close_distributed()


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


def warn_unseeded_resume(cfg: Config) -> bool:
    """Logs what a resume without ``randomness.seed`` does not continue.

    mmengine builds the data sampler with a fresh random seed before it
    loads the checkpoint, and only then puts the checkpoint's seed back; so
    the weights, the optimizer and the Avatars continue, but the order of
    the data after the resume is not the uninterrupted run's.

    Args:
        cfg (Config): The config, after ``--resume`` was applied.

    Returns:
        bool: Whether the warning was logged.
    """
    seed = (cfg.get('randomness') or {}).get('seed')
    if not cfg.get('resume') or seed is not None:
        return False
    print_log(
        'Resuming a config without `randomness.seed`: mmengine seeds the '
        "data sampler afresh before it restores the checkpoint's seed, so "
        'the data order from here on differs from the uninterrupted run '
        "(weights, optimizer and Avatars continue). Set `randomness.seed` "
        '(e.g. --cfg-options randomness.seed=0) for a bit-identical resume',
        logger='current',
        level=logging.WARNING)
    return True


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
    add_common_args(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Trains the model of a config file."""
    args = parse_args(argv)
    cfg = apply_train_args(load_config(args), args)
    # One intra-op thread unless OMP_NUM_THREADS says otherwise: on a small
    # shared CPU the default threads collapse under contention
    # (docs/performance.md, "CPU threads").
    if default_cpu_threads() is not None:
        print_log(
            'torch uses 1 intra-op CPU thread; set OMP_NUM_THREADS to '
            'choose another number',
            logger='current')
    warn_unseeded_resume(cfg)
    run_then_close(lambda: build_runner(cfg).train())


if __name__ == '__main__':
    main()
