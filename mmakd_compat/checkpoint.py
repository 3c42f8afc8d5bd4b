"""Let torch >= 2.6 load the checkpoints that mmengine's Runner writes.

torch 2.6 made ``torch.load(weights_only=True)`` the default and mmengine
0.10.7 calls ``torch.load`` without the argument (open-mmlab/mmengine#1655;
the fix, #1650, is not released). A Runner checkpoint holds, besides tensors,
numpy scalars and arrays (``meta``, ``HistoryBuffer`` logs) and
``HistoryBuffer`` objects whose pickled state refers to their statistics
methods through ``getattr(HistoryBuffer, 'mean')``. Those globals, and only
those, are added to torch's allow-list with torch's own
``torch.serialization.add_safe_globals``; ``weights_only`` stays on for
everything else, and ``getattr`` is replaced in the list by a function that
returns ``HistoryBuffer``'s statistics methods and nothing else.

Only torch >= 2.6 gets the list (:func:`needs_allow_list`). torch 2.4 and 2.5
have ``add_safe_globals`` but load with ``weights_only=False`` by default, and
they do not understand the list's ``(obj, 'name')`` entries: there nothing is
registered.
"""
import re
import sys
from typing import Any, Callable, List, Optional, Tuple, Union

from . import status

#: The fix's name (its section in docs/process-changes.md).
NAME = 'torch-weights-only'

# Registered by ``HistoryBuffer.__init__``; listed here because a checkpoint
# may be loaded before any HistoryBuffer exists.
_BUILTIN_STATISTICS = frozenset(('min', 'max', 'current', 'mean'))
#: The first torch whose ``torch.load`` defaults to ``weights_only=True``.
WEIGHTS_ONLY_DEFAULT_SINCE = (2, 6)


def parse_version(version: str) -> Optional[Tuple[int, int]]:
    """The major and minor numbers of a torch version string.

    Args:
        version: Such as ``'2.6.0+cu124'``, ``'2.13.0+cpu'``, ``'2.5.1'`` or
            ``'2.6.0a0+git1a2b3c'``.

    Returns:
        Optional[Tuple[int, int]]: ``(major, minor)``, e.g. ``(2, 6)``; None
        if the string does not start with ``major.minor``.
    """
    match = re.match(r'\s*v?(\d+)\.(\d+)', str(version))
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def needs_allow_list(version: Optional[str] = None) -> bool:
    """Whether torch needs the allow-list: torch >= 2.6.

    An unreadable version counts as no: registering entries that an older
    torch does not understand would break its ``weights_only`` loads, while
    registering nothing leaves torch's own behaviour.

    Args:
        version: A torch version string; by default ``torch.__version__``.

    Returns:
        bool: True if ``torch.load`` defaults to ``weights_only=True``.
    """
    if version is None:
        import torch
        version = torch.__version__
    parsed = parse_version(version)
    return parsed is not None and parsed >= WEIGHTS_ONLY_DEFAULT_SINCE


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """Stands in for ``builtins.getattr`` while unpickling a checkpoint.

    Only ``HistoryBuffer``'s registered statistics methods can be fetched, so
    the allow-list does not open ``getattr`` on arbitrary objects.
    """
    history_buffer = sys.modules.get('mmengine.logging.history_buffer')
    if history_buffer is not None and owner is history_buffer.HistoryBuffer:
        allowed = _BUILTIN_STATISTICS.union(owner._statistics_methods)
        if name in allowed:
            return getattr(owner, name)
    raise RuntimeError(
        'This checkpoint asks for getattr('
        f'{getattr(owner, "__name__", owner)!r}, {name!r}); mmakd allows only '
        "HistoryBuffer's statistics methods (as mmengine's Runner writes "
        'them). Load untrusted files with care, or torch.load(...,'
        ' weights_only=False) if you trust the file.')


def _numpy_globals() -> List[Any]:
    """The numpy objects that pickled numpy scalars and arrays refer to."""
    import numpy as np
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    dtypes = [type(np.dtype(t)) for t in np.sctypeDict.values()]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *dict.fromkeys(dtypes)]


SafeGlobal = Union[Callable, Tuple[Callable, str]]


def mmengine_checkpoint_globals() -> List[SafeGlobal]:
    """Everything a Runner checkpoint needs beyond torch's default list."""
    from mmengine.logging import HistoryBuffer
    return [
        HistoryBuffer, *_numpy_globals(),
        (_history_buffer_method, 'builtins.getattr')
    ]


def allow_mmengine_checkpoints() -> None:
    """Adds :func:`mmengine_checkpoint_globals` to torch's safe globals, on
    torch >= 2.6 only (:func:`needs_allow_list`), and records the outcome
    under :data:`NAME`."""
    if not needs_allow_list():
        status.record(NAME, status.NOT_NEEDED,
                      'torch < 2.6 loads with weights_only=False')
        return
    import torch
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        status.cannot_apply(
            NAME, f'torch {torch.__version__} has no '
            'torch.serialization.add_safe_globals, so Runner checkpoints '
            '(resume, load_from, teacher_ckpt) fail with "Weights only load '
            'failed"')
        return
    entries = mmengine_checkpoint_globals()
    add_safe_globals(entries)
    status.record(
        NAME, status.APPLIED,
        f'{len(entries)} entries added to torch.serialization\'s safe '
        'globals: HistoryBuffer, numpy reconstructors and dtypes, and '
        "getattr restricted to HistoryBuffer's statistics")
