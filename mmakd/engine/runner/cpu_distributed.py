"""Distributed training without CUDA, and the Runner the tools build.

mmengine 0.10.7 starts every distributed run with ``torch.cuda.set_device``
and wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both need CUDA,
and DDP refuses ``SyncBatchNorm`` on CPU. :func:`build_runner` lets
``--launcher pytorch`` run on CPU ranks (``gloo``), as ``tools/dist_train.sh``
launches them; on a machine with CUDA it builds mmengine's Runner unchanged.
"""
import gc
import logging
from datetime import timedelta
from typing import Callable, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

__all__ = [
    'CPUDistributedRunner', 'DEFAULT_DIST_TIMEOUT', 'build_runner',
    'close_distributed', 'run_then_close', 'set_dist_defaults',
    'setup_cpu_distributed'
]


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
