"""Distributed runs without CUDA: gloo, a timeout, and the launchers that
need CUDA named; the whole runs are in tests/test_tools/test_train_tools.py
(2 CPU ranks through tools/dist_train.sh) and
tests/test_configs/test_recipe_hooks.py (SyncBatchNorm on CPU ranks)."""
import pytest
import torch
from helpers import toy_config

from mmakd.engine.runner import cpu_distributed


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU machine')
def test_cpu_distributed_needs_gloo():
    cfg = toy_config(**{'env_cfg.dist_cfg.backend': 'nccl'})
    cfg.launcher = 'pytorch'
    with pytest.raises(RuntimeError, match='gloo'):
        cpu_distributed.setup_cpu_distributed(cfg)
    cfg.launcher = 'none'
    cpu_distributed.setup_cpu_distributed(cfg)  # not distributed: no-op
    assert 'model_wrapper_cfg' not in cfg


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU machine')
@pytest.mark.parametrize('launcher', ['slurm', 'mpi'])
def test_cpu_distributed_names_the_launchers_that_need_cuda(launcher):
    cfg = toy_config(**{'env_cfg.dist_cfg.backend': 'gloo'})
    cfg.launcher = launcher
    with pytest.raises(RuntimeError, match=f'--launcher {launcher} needs '
                       'one .* on CPU use --launcher pytorch'):
        cpu_distributed.setup_cpu_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU machine')
def test_dist_defaults_choose_gloo_and_a_timeout(monkeypatch):
    logged = []
    monkeypatch.setattr(cpu_distributed, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    cfg = toy_config(**{'env_cfg.dist_cfg': dict(backend='nccl')})
    cfg.launcher = 'pytorch'
    cpu_distributed.set_dist_defaults(cfg)
    assert cfg.env_cfg.dist_cfg == dict(
        backend='gloo', timeout=cpu_distributed.DEFAULT_DIST_TIMEOUT)
    assert len(logged) == 1 and 'the distributed backend is gloo' in logged[0]
    cfg = toy_config(**{'env_cfg.dist_cfg': dict(backend='gloo', timeout=9)})
    cfg.launcher = 'pytorch'
    cpu_distributed.set_dist_defaults(cfg)
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=9)
    cfg = toy_config(**{'env_cfg.dist_cfg': dict(backend='nccl')})
    cfg.launcher = 'none'  # not distributed: nothing changes
    cpu_distributed.set_dist_defaults(cfg)
    assert cfg.env_cfg.dist_cfg == dict(backend='nccl')
