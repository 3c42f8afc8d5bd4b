"""Evaluating a base loss once on N Avatars stacked along the batch."""
from typing import Optional

import torch
from mmrazor.registry import MODELS
from torch import nn

#: Base losses evaluated once on the N Avatars stacked along the batch
#: instead of once per Avatar, because that gives the mean of the N
#: per-Avatar values (see :func:`stacking_of`). Exact types only: a
#: subclass may reduce otherwise. Any other loss (PKD, whose normalisation
#: uses batch statistics; FGD and MGD, whose masks and generation are
#: per call; KL divergence, ...) is called once per Avatar.
STACKABLE = ('ChannelWiseDivergence', 'L2Loss')


def stacking_of(base_loss: nn.Module) -> Optional[str]:
    """How ``base_loss`` takes N Avatars in one call, or None (per Avatar).

    - ``ChannelWiseDivergence``: ``sum / (C * batch)``, a batch mean of
      per-sample sums: the student repeated N times (``'repeat'``; CWD
      ``view``s its inputs, so the copy is needed) and the Avatars
      ``(N * B, ...)`` give the mean over Avatars.
    - ``L2Loss`` without ``dist`` (whose square root of the total is no
      mean): ``sum / numel`` or ``sum / batch``. With ``normalize`` (per
      sample) as CWD (``'repeat'``); without, the student ``(B, ...)``
      broadcasts against the Avatars ``(N, B, ...)`` with no copy
      (``'broadcast'``), and the result, divided by the student's size,
      is divided by N.

    Args:
        base_loss (nn.Module): The wrapped loss.

    Returns:
        str | None: ``'repeat'``, ``'broadcast'`` or None.
    """
    name = type(base_loss).__name__
    if name not in STACKABLE or type(base_loss) is not MODELS.get(name):
        return None
    if name == 'L2Loss':
        if base_loss.dist:
            return None
        return 'repeat' if base_loss.normalize else 'broadcast'
    return 'repeat'


def repeat_along_batch(x: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, ...)`` as ``(n * B, ...)``: n copies along the batch.

    Contiguous: losses such as CWD call ``.view`` on their inputs, and with
    ``B == 1`` ``flatten`` of the expanded view would stay a strided view.
    """
    return x.repeat(n, *([1] * (x.dim() - 1)))
