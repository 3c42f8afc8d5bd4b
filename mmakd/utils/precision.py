"""Float32 for what half precision cannot hold: statistics and sums.

Under autocast, features arrive in fp16 or bf16. A sum of squares, a batch
variance or ``S / sigma`` of features of magnitude 1e3 overflows fp16, so
statistics and the base losses' inputs are computed in float32. Float32 and
float64 tensors are used as they are (no copy).
"""
import torch

HALF_TYPES = (torch.float16, torch.bfloat16)


def upcast(x: torch.Tensor) -> torch.Tensor:
    """fp16 and bf16 as float32; any other dtype unchanged (no copy).

    Args:
        x (Tensor): A feature.

    Returns:
        Tensor: ``x`` in float32 if it was half precision, else ``x``.
    """
    return x.float() if x.dtype in HALF_TYPES else x


def statistic(x: torch.Tensor) -> torch.Tensor:
    """A detached :func:`upcast`: the input of a statistic (no gradient).

    Args:
        x (Tensor): A feature.

    Returns:
        Tensor: ``x`` detached, in float32 if it was half precision.
    """
    return upcast(x.detach())
