"""The options of the uncertainty-aware factor, checked with named errors."""
from typing import Optional

from ..avatars.perturbations import check_real

#: The forms of the factor (see ``UncertaintyAwareKDLoss``).
UNCERTAINTY_MODES = ('paper', 'official', 'release', 'none')
#: How ``'paper'`` estimates ``sigma^2 = E_x E_i[(A_i - T)^2]``.
SIGMA_MODES = ('sampled', 'expected')


def check_uncertainty(owner: str, uncertainty: str) -> None:
    """Raises ValueError, naming ``owner``, unless ``uncertainty`` is known."""
    if not isinstance(uncertainty, str) or \
            uncertainty not in UNCERTAINTY_MODES:
        raise ValueError(f'{owner}: `uncertainty` must be one of '
                         f'{UNCERTAINTY_MODES}, but got {uncertainty!r}')


def check_sigma(owner: str, sigma: str,
                uncertainty: Optional[str] = None) -> None:
    """Raises ValueError, naming ``owner``, unless ``sigma`` is known.

    Args:
        owner (str): Who takes the value (named in the error).
        sigma (str): The ``sigma`` value received.
        uncertainty (str, optional): The ``uncertainty`` given with it;
            ``'expected'`` only changes ``'paper'``, so any other mode with
            ``'expected'`` is an error. None: not checked.
    """
    if not isinstance(sigma, str) or sigma not in SIGMA_MODES:
        raise ValueError(f'{owner}: `sigma` must be one of {SIGMA_MODES}, '
                         f'but got {sigma!r}')
    if sigma == 'expected' and uncertainty not in (None, 'paper'):
        raise ValueError(
            f"{owner}: `sigma`='expected' sets how uncertainty='paper' "
            "computes sigma, but `uncertainty` is "
            f"{uncertainty!r}; use uncertainty='paper' or sigma='sampled'")


def check_eps(owner: str, key: str, eps: float) -> float:
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
    eps = check_real(owner, key, eps, '> 0')
    if not eps > 0:
        key = key if '`' in key else f'`{key}`'
        raise ValueError(f'{owner}: {key} must be > 0, but got {eps}')
    return eps
