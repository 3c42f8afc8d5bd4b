from .cpu_distributed import (DEFAULT_DIST_TIMEOUT, CPUDistributedRunner,
                              build_runner, close_distributed, run_then_close,
                              set_dist_defaults, setup_cpu_distributed)
from .resume import warn_unseeded_resume

__all__ = [
    'CPUDistributedRunner', 'DEFAULT_DIST_TIMEOUT', 'build_runner',
    'close_distributed', 'run_then_close', 'set_dist_defaults',
    'setup_cpu_distributed', 'warn_unseeded_resume'
]
