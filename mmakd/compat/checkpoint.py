"""Let torch >= 2.6 load the checkpoints that mmengine's Runner writes.

torch 2.6 made ``torch.load(weights_only=True)`` the default and mmengine 0.10.7
calls ``torch.load`` without the argument. A Runner checkpoint holds, besides
tensors, numpy scalars and arrays (``meta``, ``HistoryBuffer`` logs) and
``HistoryBuffer`` objects whose pickled state refers to their statistics methods
through ``getattr(HistoryBuffer, 'mean')``. Those globals, and only those, are
added to torch's allow-list: ``weights_only`` stays on for everything else.
"""
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

# Registered by ``HistoryBuffer.__init__``; listed here because a checkpoint
# may be loaded before any HistoryBuffer exists.
_BUILTIN_STATISTICS = frozenset(('min', 'max', 'current', 'mean'))


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """Stands in for ``builtins.getattr`` while unpickling a checkpoint.

    Only ``HistoryBuffer``'s registered statistics methods can be fetched, so
    the allow-list does not open ``getattr`` on arbitrary objects.
    """
    allowed = _BUILTIN_STATISTICS.union(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise RuntimeError(
        'This checkpoint asks for getattr('
        f'{getattr(owner, "__name__", owner)!r}, {name!r}); mmakd allows only '
        "HistoryBuffer's statistics methods (as mmengine's Runner writes "
        'them). Load untrusted files with care, or torch.load(...,'
        ' weights_only=False) if you trust the file.')


def _numpy_globals() -> List[Any]:
    """The numpy objects that pickled numpy scalars and arrays refer to."""
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    dtypes = [type(np.dtype(t)) for t in np.sctypeDict.values()]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *dict.fromkeys(dtypes)]


def mmengine_checkpoint_globals() -> List[Union[Callable, Tuple[Callable,
                                                                 str]]]:
    """Everything a Runner checkpoint needs beyond torch's default list."""
    return [
        HistoryBuffer, *_numpy_globals(),
        (_history_buffer_method, 'builtins.getattr')
    ]


def allow_mmengine_checkpoints() -> None:
    """Adds :func:`mmengine_checkpoint_globals` to torch's safe globals."""
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
