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

A load inside ``torch.serialization.safe_globals(list)`` (onedl-mmengine
loads every checkpoint so) takes that list's objects off the allow-list when
it ends, mmakd's ``HistoryBuffer`` and numpy globals among them. So the list
also holds a stand-in for ``HistoryBuffer`` (another object, which stays),
and the first checkpoint that holds a ``HistoryBuffer`` after such a load
registers the whole list again.

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
HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'


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


def _history_buffer() -> type:
    """mmengine's ``HistoryBuffer``, with the full allow-list registered.

    torch keys its allow-list by name and the stand-in shares the class's
    name, so the class is also registered under its public alias
    ``mmengine.logging.HistoryBuffer``: unpickling checks the object it
    builds against the list's values, whichever of the two holds the name.
    It registers on every call, not once: a load inside
    ``torch.serialization.safe_globals`` (onedl-mmengine's) restores the
    list as it was when the context ends (torch skips entries it has).
    """
    import torch
    from mmengine.logging import HistoryBuffer
    torch.serialization.add_safe_globals([
        *mmengine_checkpoint_globals(), *_stand_ins(),
        (HistoryBuffer, 'mmengine.logging.HistoryBuffer')
    ])
    return HistoryBuffer


class _OnDemandType(type):
    """The stand-in's class: its missing attributes are ``HistoryBuffer``'s.

    A checkpoint's ``HistoryBuffer`` refers to its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. Under mmakd's list that ``getattr``
    is :func:`_history_buffer_method`; where another list supplies the
    builtin ``getattr`` under the same name (``onedl-mmengine`` loads each
    checkpoint inside ``torch.serialization.safe_globals`` of its own list),
    the builtin gets the stand-in and finds the method here.
    """

    def __getattr__(cls, name: str) -> Any:
        if name.startswith('__'):
            raise AttributeError(name)
        return getattr(_history_buffer(), name)


class _HistoryBufferOnDemand(metaclass=_OnDemandType):
    """Stands in for ``HistoryBuffer`` in the allow-list until it is needed.

    Unpickling creates a ``HistoryBuffer`` with ``cls.__new__(cls)``; this
    stand-in returns a real ``HistoryBuffer`` instead, after importing it.
    """

    def __new__(cls, *args: Any) -> Any:
        real = _history_buffer()
        return real.__new__(real, *args)


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """Stands in for ``builtins.getattr`` while unpickling a checkpoint.

    Only ``HistoryBuffer``'s registered statistics methods can be fetched, so
    the allow-list does not open ``getattr`` on arbitrary objects.
    """
    if owner is _HistoryBufferOnDemand:
        owner = _history_buffer()
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


def _stand_ins() -> List[SafeGlobal]:
    """The on-demand ``HistoryBuffer`` under its own name and the class's.

    A load inside ``torch.serialization.safe_globals(list)`` (what
    onedl-mmengine does) takes the list's objects off torch's allow-list when
    it ends, the real ``HistoryBuffer`` and numpy's globals included. The
    stand-in is another object, so it stays; the first checkpoint that
    holds a ``HistoryBuffer`` after that registers the full list again
    (:func:`_history_buffer`).
    """
    return [_HistoryBufferOnDemand, (_HistoryBufferOnDemand, HISTORY_BUFFER)]


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
    entries = [*mmengine_checkpoint_globals(), *_stand_ins()]
    add_safe_globals(entries)
    status.record(
        NAME, status.APPLIED,
        f'{len(entries)} entries added to torch.serialization\'s safe '
        'globals: HistoryBuffer, numpy reconstructors and dtypes, and '
        "getattr restricted to HistoryBuffer's statistics")
