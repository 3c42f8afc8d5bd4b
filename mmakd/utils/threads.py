"""CPU thread defaults for training on a CPU that other processes share.

torch's intra-op pool has one thread per core by default. When another
CPU-heavy process runs on the same cores, those threads wait for each other
at every operator: the demo's training ran 2-12 times slower than with one
thread per process, and one thread cost nothing measurable on a quiet
machine (docs/performance.md, "CPU threads";
``projects/digit_scenes/tools/cpu_threads.py``).
"""
import os
from typing import Optional

import torch

#: The variable that, when set, means the user chose the thread count.
USER_VARIABLE = 'OMP_NUM_THREADS'


def default_cpu_threads(num_threads: int = 1) -> Optional[int]:
    """Sets torch's intra-op threads to ``num_threads`` unless the user chose.

    Call it once at the start of a training script, before the first
    operator runs. When ``OMP_NUM_THREADS`` is set (to anything), torch
    already follows it and nothing is changed. DataLoader worker processes
    are not affected: torch gives each of them one thread anyway.

    Args:
        num_threads (int): Intra-op threads to use. Defaults to 1.

    Returns:
        int | None: The thread count set, or None when ``OMP_NUM_THREADS``
        is set and torch's setting was left alone.

    Raises:
        ValueError: ``num_threads`` is not an int >= 1.
    """
    if isinstance(num_threads, bool) or not isinstance(
            num_threads, int) or num_threads < 1:
        raise ValueError('default_cpu_threads: `num_threads` must be an int '
                         f'>= 1, but got {num_threads!r}')
    if os.environ.get(USER_VARIABLE) is not None:
        return None
    torch.set_num_threads(num_threads)
    return num_threads
