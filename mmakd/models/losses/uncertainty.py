"""The uncertainty-aware factor of AKD, in its published forms.

Both map a student feature ``S`` and Avatars ``A`` (stacked, ``(N, B, ...)``)
to the pair that the base distillation loss compares. Statistics run in
float32 whatever the feature dtype (fp16/bf16 under autocast) and carry no
gradient into the teacher.
"""
import torch

from ...utils.precision import statistic

# BatchNorm's epsilon: the authors' release standardises with nn.BatchNorm2d.
BN_EPS = 1e-5


def uncertainty_map(teacher: torch.Tensor,
                    avatars: torch.Tensor) -> torch.Tensor:
    """``U = E_i[(A_i - T)^2]``, the per-element uncertainty map (AKD figure),
    from the drawn Avatars.

    One Avatar-sized temporary (the difference, squared in place). Float32
    (float64) inputs are not copied; fp16 and bf16 are upcast before the
    difference.

    Args:
        teacher (Tensor): Vanilla teacher feature ``T``, shape ``(B, ...)``.
        avatars (Tensor): Avatars ``A``, shape ``(N, B, ...)``.

    Returns:
        Tensor: ``U`` of shape ``(B, ...)``, float32 (or float64).
    """
    sq_diff = torch.sub(statistic(avatars), statistic(teacher)).square_()
    # The mean over one Avatar is that Avatar: a view, not a copy.
    return sq_diff[0] if sq_diff.shape[0] == 1 else sq_diff.mean(dim=0)


def sigma_of(sq_diff: torch.Tensor, eps: float) -> torch.Tensor:
    """``sigma = sqrt(E_x[U] + eps * mean(E_x[U]))``, per element of a sample.

    ``E_x`` is the expectation over the batch (with one Avatar the variance
    over Avatars alone is zero). The floor ``eps * mean`` keeps positions
    where the teacher is zero across the batch (e.g. after a ReLU) from
    blowing the student up by 1 / sigma, and is scale-free. Without any
    perturbation (``U == 0``) there is no uncertainty and sigma is 1.

    Args:
        sq_diff (Tensor): The uncertainty map ``U``, ``(B, ...)``: drawn
            (:func:`uncertainty_map`) or in closed form.
        eps (float): Relative floor of ``sigma^2``.

    Returns:
        Tensor: sigma of shape ``(1, ...)``, broadcastable to ``S`` and
        ``A_i``.
    """
    sigma_sq = sq_diff.mean(dim=0, keepdim=True)
    level_mean = sigma_sq.mean()
    # Adds 1 to the zeros of an unperturbed level and 0 otherwise: one
    # kernel, and no host-device sync on the training path.
    return sigma_sq.add_(eps * level_mean + (level_mean == 0)).sqrt_()


def spread(sq_diff: torch.Tensor) -> torch.Tensor:
    """The logged Avatar spread: the RMS Avatar-teacher difference,
    ``sqrt(E[U])``.

    Args:
        sq_diff (Tensor): The drawn uncertainty map ``U``, ``(B, ...)``.

    Returns:
        Tensor: A scalar.
    """
    return sq_diff.mean().sqrt()


def values_per_channel(shape: torch.Size, batch_dim: int = 0) -> int:
    """How many values :func:`standardise` averages per channel of ``shape``.

    Args:
        shape (torch.Size): ``(B, C, ...)``, or ``(N, B, C, ...)`` with
            ``batch_dim=1``.
        batch_dim (int): Index of the batch dimension. Defaults to 0.

    Returns:
        int: ``B`` times the number of spatial positions.
    """
    count = 1
    for dim, size in enumerate(shape):
        if dim >= batch_dim and dim != batch_dim + 1:
            count *= size
    return count


def standardise(x: torch.Tensor, batch_dim: int = 0) -> torch.Tensor:
    """Per-channel standardisation with the tensor's own batch statistics.

    What a parameter-free ``BatchNorm`` in training mode does: the released
    code's "uncertainty weights". Channels sit right after ``batch_dim``; any
    number of channels and levels is fine (the release hard-coded 2048).
    Mean, variance and result are float32 whatever the input dtype: in fp16
    the variance of features of magnitude 1e3 overflows (their squares pass
    65504) and would standardise everything to 0.

    Args:
        x (Tensor): ``(B, C, ...)``, or ``(N, B, C, ...)`` with
            ``batch_dim=1`` to standardise each Avatar on its own.
        batch_dim (int): Index of the batch dimension. Defaults to 0.

    Returns:
        Tensor: Standardised ``x``, same shape, float32 (or float64 for a
        float64 input).

    Raises:
        ValueError: A channel has a single value (e.g. ``(1, C)`` logits),
            whose standardisation is 0 whatever the input, as
            ``BatchNorm`` refuses in training mode.
    """
    if x.dim() < batch_dim + 2 or values_per_channel(x.shape,
                                                     batch_dim) < 2:
        raise ValueError(
            'standardise: expected more than 1 value per channel (batch '
            'size times spatial positions) to standardise with batch '
            f'statistics, but got a tensor of shape {tuple(x.shape)}; its '
            'standardisation would be 0 everywhere')
    if x.dtype != torch.float64:
        x = x.float()
    dims = tuple(d for d in range(batch_dim, x.dim()) if d != batch_dim + 1)
    var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
    return (x - mean) * torch.rsqrt(var + BN_EPS)
