"""MasKD's receptive tokens: learned masks over one feature map.

Huang et al., "Masked Distillation with Receptive Tokens", ICLR 2023
(https://arxiv.org/abs/2205.14589). Stage 1 learns the tokens on the frozen
teacher (:class:`~mmakd.models.algorithms.ReceptiveTokenLearner`); stage 2
distils through them (:class:`~mmakd.models.losses.MasKDLoss`). The
parameter names are those of the official code (hunto/MasKD), so its token
checkpoints load as they are.
"""
import math
from typing import Tuple

import torch
from torch import nn

#: The official code's guard in the dice coefficient's denominators.
DICE_EPS = 1e-12


def dice_diversity(masks: torch.Tensor) -> torch.Tensor:
    """The mean dice coefficient between different masks of each sample.

    ``mean_n mean_{i != j} 2 <M_i, M_j> / (|M_i|^2 + |M_j|^2)``: minimised in
    stage 1 so that the tokens attend to different regions.

    Args:
        masks (Tensor): Masks of shape ``(N, T, H, W)``.

    Returns:
        Tensor: A scalar in ``[0, 1]``.
    """
    flat = masks.flatten(2)  # (N, T, HW)
    overlap = torch.bmm(flat, flat.transpose(1, 2))  # (N, T, T)
    energy = overlap.diagonal(dim1=1, dim2=2) + DICE_EPS  # |M_i|^2
    dice = 2 * overlap / (energy.unsqueeze(1) + energy.unsqueeze(2))
    num_tokens = masks.shape[1]
    off_diagonal = ~torch.eye(num_tokens, dtype=torch.bool,
                              device=masks.device)
    return dice[:, off_diagonal].mean()


class ReceptiveTokens(nn.Module):
    """``T`` receptive tokens over a ``C``-channel feature map (MasKD).

    The masks are ``M = sigmoid(token @ x)`` per position, ``(N, T, H, W)``;
    with ``weight_mask`` a probability head (3x3 conv, global average pool,
    1x1 conv to ``T``, softmax over the tokens) weighs them per sample.

    Args:
        channels (int): Channels ``C`` of the feature map.
        num_tokens (int): Number of tokens ``T``. Defaults to 6.
        weight_mask (bool): Whether the tokens have a probability head.
            Defaults to True.
    """

    def __init__(self,
                 channels: int,
                 num_tokens: int = 6,
                 weight_mask: bool = True) -> None:
        super().__init__()
        for name, value in (('channels', channels), ('num_tokens',
                                                     num_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f'ReceptiveTokens: `{name}` must be a '
                                 f'positive int, but got {value!r}')
        self.num_tokens = num_tokens
        self.weight_mask = weight_mask
        self.mask_token = nn.Parameter(torch.empty(num_tokens, channels))
        if weight_mask:
            self.prob = nn.Sequential(
                nn.Conv2d(channels, channels, kernel_size=3, padding=1),
                nn.AdaptiveAvgPool2d(1),
                nn.Conv2d(channels, num_tokens, kernel_size=1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: tokens from N(0, 0.01^2), the head's
        convs fan-out normal with zero bias."""
        nn.init.normal_(self.mask_token, 0, 0.01)
        if self.weight_mask:
            for conv in (self.prob[0], self.prob[2]):
                fan_out = conv.kernel_size[0] * conv.kernel_size[1] * \
                    conv.out_channels
                nn.init.normal_(conv.weight, 0, math.sqrt(2.0 / fan_out))
                nn.init.zeros_(conv.bias)

    def masks(self, x: torch.Tensor) -> torch.Tensor:
        """The masks of ``x``.

        Args:
            x (Tensor): A feature map, ``(N, C, H, W)``.

        Returns:
            Tensor: ``sigmoid(token @ x)``, ``(N, T, H, W)``.
        """
        n, c, h, w = x.shape
        if c != self.mask_token.shape[1]:
            raise ValueError(
                f'ReceptiveTokens: tokens of {self.mask_token.shape[1]} '
                f'channels got a feature map of shape {tuple(x.shape)}')
        logits = torch.matmul(
            self.mask_token.to(x.dtype), x.reshape(n, c, h * w))
        return logits.sigmoid().view(n, self.num_tokens, h, w)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The probability of each token per sample (``weight_mask``).

        Args:
            x (Tensor): A feature map, ``(N, C, H, W)``.

        Returns:
            Tensor: Softmax over the tokens, ``(N, T)``.
        """
        return self.prob(x).flatten(1).softmax(dim=1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The masked feature that stage 1 gives the detector's head, and the
        masks' diversity loss.

        Args:
            x (Tensor): A feature map, ``(N, C, H, W)``.

        Returns:
            tuple[Tensor, Tensor]: ``sum_t p_t (x * M_t)`` (``p_t = 1``
            without ``weight_mask``), ``(N, C, H, W)``; and
            :func:`dice_diversity` of the masks.
        """
        masks = self.masks(x)
        if self.weight_mask:
            masks_weighted = masks * self.weights(x)[:, :, None, None]
        else:
            masks_weighted = masks
        # sum_t p_t x M_t = x * sum_t p_t M_t: one feature-sized product.
        masked = x * masks_weighted.sum(dim=1, keepdim=True)
        return masked, dice_diversity(masks)
