"""Checks of the arguments users set, each error naming its key.

Every message has the form ``<owner>: `<key>` must be <expected>, but got
<value>``: ``owner`` is the class (or tool) that takes the value, ``key``
its config key. The choices in the messages are the tables the values are
looked up in (:data:`UNCERTAINTY_MODES`, :data:`SIGMA_MODES`, a
perturbation's modes), so that a message lists what is accepted.
``docs/errors.md`` is generated from the tests of these messages
(``tests/test_models/test_distillers/test_bad_inputs.py``).
"""
import math
from numbers import Real
from typing import Any, Iterable, Optional, Sequence, Set, Union

#: The forms of the uncertainty-aware factor (see
#: ``UncertaintyAwareKDLoss``).
UNCERTAINTY_MODES = ('paper', 'official', 'release', 'none')
#: How ``'paper'`` estimates ``sigma^2 = E_x E_i[(A_i - T)^2]``.
SIGMA_MODES = ('sampled', 'expected')


def _quoted(key: str) -> str:
    """``key`` in backquotes, unless it already holds some."""
    return key if '`' in key else f'`{key}`'


def check_real(owner: str, key: str, value: Any, expected: str) -> float:
    """``value`` as a finite float, else a named error.

    Args:
        owner (str): Who takes the value (named in the error).
        key (str): Its config key (named in the error), bare (``'p'``) or
            already quoted (``"`eps` (the distiller's `uncertainty_eps`)"``).
        value: What was received.
        expected (str): The expected range, for the error, e.g.
            ``'in [0, 1)'``.

    Returns:
        float: ``value``.

    Raises:
        TypeError: ``value`` is not a real number (a bool, a string, None).
        ValueError: ``value`` is NaN or infinite.
    """
    key = _quoted(key)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f'{owner}: {key} must be a number {expected}, but '
                        f'got {value!r} ({type(value).__name__})')
    if not math.isfinite(value):
        raise ValueError(f'{owner}: {key} must be a finite number '
                         f'{expected}, but got {value!r}')
    return float(value)


def check_range(owner: str, key: str, value: Any, low: float,
                high: Optional[float] = None,
                low_open: bool = False) -> float:
    """``value`` as a float in ``[low, high)`` (``(low, ...)`` with
    ``low_open``; no upper bound without ``high``), else a named error.

    Args:
        owner (str): Who takes the value.
        key (str): Its config key, bare or quoted.
        value: What was received.
        low (float): The lower bound.
        high (float, optional): The open upper bound. Defaults to None.
        low_open (bool): Whether ``low`` itself is excluded.

    Returns:
        float: ``value``.
    """
    if high is not None:
        expected = f'in [{low:g}, {high:g})'
    else:
        expected = f'{">" if low_open else ">="} {low:g}'
    value = check_real(owner, key, value, expected)
    inside = (value > low if low_open else value >= low) and (
        high is None or value < high)
    if not inside:
        raise ValueError(
            f'{owner}: {_quoted(key)} must be {expected}, but got {value}')
    return value


def check_int(owner: str, key: str, value: Any, low: int) -> int:
    """``value`` if it is an int >= ``low`` (not a bool), else ValueError.

    Args:
        owner (str): Who takes the value.
        key (str): Its config key.
        value: What was received.
        low (int): The smallest value accepted.

    Returns:
        int: ``value``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f'{owner}: {_quoted(key)} must be an int >= {low}, '
                         f'but got {value!r}')
    return value


def check_bool(owner: str, key: str, value: Any) -> bool:
    """``value`` if it is True or False, else TypeError."""
    if not isinstance(value, bool):
        raise TypeError(f'{owner}: {_quoted(key)} must be True or False, '
                        f'but got {value!r}')
    return value


def check_choice(owner: str, key: str, value: Any,
                 choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else ValueError listing them.
    """
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f'{owner}: {_quoted(key)} must be one of '
                         f'{tuple(choices)}, but got {value!r}')
    return value


def check_uncertainty(owner: str, uncertainty: Any) -> str:
    """``uncertainty`` if it is in :data:`UNCERTAINTY_MODES`."""
    return check_choice(owner, 'uncertainty', uncertainty, UNCERTAINTY_MODES)


def check_sigma(owner: str, sigma: Any,
                uncertainty: Optional[str] = None) -> str:
    """``sigma`` if it is in :data:`SIGMA_MODES` and fits ``uncertainty``.

    Args:
        owner (str): Who takes the value (named in the error).
        sigma (str): The ``sigma`` value received.
        uncertainty (str, optional): The ``uncertainty`` given with it;
            ``'expected'`` only changes ``'paper'``, so any other mode with
            ``'expected'`` is an error. None: not checked.

    Returns:
        str: ``sigma``.
    """
    check_choice(owner, 'sigma', sigma, SIGMA_MODES)
    if sigma == 'expected' and uncertainty not in (None, 'paper'):
        raise ValueError(
            f"{owner}: `sigma`='expected' sets how uncertainty='paper' "
            "computes sigma, but `uncertainty` is "
            f"{uncertainty!r}; use uncertainty='paper' or sigma='sampled'")
    return sigma


def check_eps(owner: str, key: str, eps: Any) -> float:
    """``eps`` as a float if it is a finite number > 0, else a named error.

    ``'paper'`` divides by ``sigma``, which is 0 where the teacher is 0
    across the batch: a floor of 0 divides by 0, an infinite one makes every
    loss 0.

    Args:
        owner (str): Who takes the value (named in the error).
        key (str): Its config key (named in the error), bare or quoted.
        eps (float): The value received.

    Returns:
        float: ``eps``.
    """
    return check_range(owner, key, eps, 0, low_open=True)


def check_loss_names(owner: str, key: str,
                     value: Union[str, Iterable[str], None],
                     known: Iterable[str]) -> Set[str]:
    """A loss name, a list of them or None as a set of names in ``known``.

    Args:
        owner (str): Who takes the value.
        key (str): Its config key, e.g. ``'exclude_losses'``.
        value: What was received.
        known (Iterable[str]): The names of ``distill_losses``.

    Returns:
        set[str]: The names.

    Raises:
        TypeError: ``value`` is of another form.
        KeyError: A name is not in ``known``.
    """
    if value is None:
        names: Set[str] = set()
    elif isinstance(value, str):
        names = {value}
    elif isinstance(value, (list, tuple, set, frozenset)) and all(
            isinstance(name, str) for name in value):
        names = set(value)
    else:
        raise TypeError(
            f'{owner}: {_quoted(key)} must be a loss name, a list of loss '
            f'names or None, but got {value!r}')
    unknown = names - set(known)
    if unknown:
        raise KeyError(f'{owner}: {_quoted(key)} names {sorted(unknown)}, '
                       'which are not in `distill_losses` '
                       f'({sorted(known)})')
    return names
