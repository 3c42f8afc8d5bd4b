"""What each fix did in this process, and the one warning of a fix that
cannot apply.

Every fix of :mod:`mmakd_compat` records its outcome here under its name,
which is also its section in ``docs/process-changes.md``:
``'applied'``, ``'not needed'`` (the installed versions are not affected)
or ``'cannot apply'`` (affected, but the upstream text or function it acts
on has changed: then one ``RuntimeWarning`` names mmakd, the fix and the
page). ``python -m mmakd_compat`` prints the table.
"""
import warnings
from dataclasses import dataclass
from typing import Dict, List

__all__ = ['DOCS', 'FixState', 'cannot_apply', 'record', 'report']

#: The page that lists every change mmakd makes to a process.
DOCS = 'docs/process-changes.md'

APPLIED = 'applied'
NOT_NEEDED = 'not needed'
CANNOT_APPLY = 'cannot apply'


@dataclass
class FixState:
    """The outcome of one fix.

    Args:
        name: The fix's name (its section in :data:`DOCS`).
        state: ``'applied'``, ``'not needed'`` or ``'cannot apply'``.
        detail: What was changed, or why not.
    """
    name: str
    state: str
    detail: str = ''


_STATES: Dict[str, FixState] = {}


def record(name: str, state: str, detail: str = '') -> None:
    """Records the outcome of the fix ``name`` (the last one counts).

    Args:
        name: The fix's name.
        state: One of ``'applied'``, ``'not needed'``.
        detail: What was changed, or why nothing was.
    """
    _STATES[name] = FixState(name, state, detail)


def cannot_apply(name: str, reason: str) -> None:
    """Warns once that the fix ``name`` cannot apply, and records it.

    Args:
        name: The fix's name.
        reason: What changed upstream, and what the user will see.
    """
    first = _STATES.get(name, FixState(name, '')).state != CANNOT_APPLY
    _STATES[name] = FixState(name, CANNOT_APPLY, reason)
    if first:
        warnings.warn(
            f"mmakd: its fix '{name}' cannot apply to the installed "
            f'packages: {reason}. See "{name}" in {DOCS} (mmakd\'s '
            'repository) for the upstream bug and what to do.',
            RuntimeWarning,
            stacklevel=2)


def report() -> List[FixState]:
    """The outcome of each fix that ran in this process, in order."""
    return list(_STATES.values())
