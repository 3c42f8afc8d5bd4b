"""MasKDLoss: masked distillation with receptive tokens, MMRazor 1.x style."""
import functools
import os
from typing import Dict, Optional, Tuple

import mmrazor.models  # noqa: F401  (MMRazor's own losses registered first)
import torch
from mmengine.logging import print_log
from mmrazor.registry import MODELS
from torch import nn

from ...utils.checkpoints import (problem_list, read_checkpoint,
                                  state_dict_mismatches, unwrapped_keys)
from ...utils.precision import upcast
from ..avatars.avatar_random import runner_iteration
from ..checks import check_int
from .receptive_tokens import ReceptiveTokens

#: Where stage 1 keeps each level's tokens (the official key names).
TOKENS_PREFIX = 'mask_modules'


class TokensCheckpointMismatch(RuntimeError):
    """``tokens_ckpt`` holds no tokens that fit the loss."""


@functools.lru_cache(maxsize=8)
def _stage1_tokens(
        filename: str,
        stamp: Optional[Tuple[int, int]]) -> Dict[str, torch.Tensor]:
    """The ``mask_modules.*`` tensors of a checkpoint, read once per file
    version (``stamp``): a recipe's losses, one per level, read the same
    file, which from mmakd's stage 1 also holds the whole teacher.

    As the official loader: the keys that contain ``mask_modules``, with
    what precedes it stripped (a stage-1 model of mmakd saves them at the
    top, the official hook under ``module.``).
    """
    checkpoint = read_checkpoint(filename, arg='tokens_ckpt')
    state_dict = unwrapped_keys(checkpoint.get('state_dict', checkpoint))
    return {
        key[key.find(TOKENS_PREFIX):]: value
        for key, value in state_dict.items() if TOKENS_PREFIX in key
    }


def stage1_tokens(filename: str) -> Dict[str, torch.Tensor]:
    """:func:`_stage1_tokens` of a path (keyed on its size and time) or URL.

    Args:
        filename (str): Path or URL of the checkpoint.

    Returns:
        dict: Every level's tokens, ``mask_modules.<level>.<name>``.
    """
    try:
        info = os.stat(filename)
        stamp = (info.st_mtime_ns, info.st_size)
    except OSError:  # a URL (mmengine caches the download)
        stamp = None
    return _stage1_tokens(filename, stamp)


def tokens_state_dict(tokens: Dict[str, torch.Tensor], level: int,
                      filename: str) -> Dict[str, torch.Tensor]:
    """The tokens of one level, from :func:`stage1_tokens`.

    Args:
        tokens (dict): Every level's tokens, ``mask_modules.<level>.*``.
        level (int): The level whose tokens are wanted.
        filename (str): The checkpoint's name, for the messages.

    Returns:
        dict: The level's parameters, keyed as in :class:`ReceptiveTokens`.

    Raises:
        TokensCheckpointMismatch: The checkpoint has no tokens, or none for
            ``level``.
    """
    if not tokens:
        raise TokensCheckpointMismatch(
            f'MasKDLoss: tokens_ckpt={filename!r} has no key containing '
            f'{TOKENS_PREFIX!r}; expected a stage-1 checkpoint (of '
            'ReceptiveTokenLearner, or an official MasKD token file)')
    prefix = f'{TOKENS_PREFIX}.{level}.'
    level_tokens = {
        key[len(prefix):]: value
        for key, value in tokens.items() if key.startswith(prefix)
    }
    if not level_tokens:
        levels = sorted({key.split('.')[1] for key in tokens})
        raise TokensCheckpointMismatch(
            f'MasKDLoss: tokens_ckpt={filename!r} has no tokens for '
            f'`level`={level} (keys {prefix}*); it has levels {levels}')
    return level_tokens


@MODELS.register_module()
class MasKDLoss(nn.Module):
    """Masked distillation with receptive tokens (MasKD), one feature level.

    Huang et al., "Masked Distillation with Receptive Tokens", ICLR 2023
    (https://arxiv.org/abs/2205.14589), with the arithmetic of the official
    code (hunto/MasKD, ``mmrazor/models/losses/maskd.py``). With the
    teacher's (frozen) tokens ``W`` of this level and ``T`` tokens:

    - masks ``M = sigmoid(W y_t)``, ``(N, T, H, W)``; from iteration
      ``custom_mask_warmup`` on (``custom_mask``), ``M = M * sigmoid(W y_s)``
      with the student's masks taken without gradient;
    - ``L[n, t, c] = sum_hw (M y_s - M y_t)^2 / sum_hw M``;
    - with ``weight_mask``, ``w = softmax_T(prob(y_t))`` and
      ``loss = mean_n sum_t w[n, t] mean_c L[n, t, c]``; without,
      ``loss = mean L``;
    - ``loss_weight * loss``. The official loss sums its levels; here each
      level is its own loss (as MMRazor 1.x's recipes distil FPN levels),
      and the distiller sums them.

    The student input is the student's feature after its own trainable 1x1
    conv (the official ``align_module``; a ``ConvModuleConnector`` in
    MMRazor 1.x), the teacher's as it is. Where the official code is wrong
    or fragile this loss departs from it (``docs/method.md``):

    - the warmup compares the iteration with ``custom_mask_warmup`` (the
      first official version read a misspelt attribute and raised at the
      warmup iteration);
    - the iteration is mmengine's (its ``MessageHub``), so a resumed run
      keeps using the student's masks; the official counter restarted at 0.
      Outside a Runner the loss counts its own training calls, as the
      official code does;
    - ``sum_hw M`` is floored at the smallest normal float32: identical
      wherever the official loss is finite, 0 instead of NaN where every
      mask value underflowed;
    - one log line (mmengine's logger: rank 0) when the student's masks join,
      instead of a print on every rank;
    - the tokens are frozen by ``requires_grad=False`` (the official configs
      give them ``lr_mult=0``), so no gradient is computed or reduced for
      them.

    Args:
        channels (int): Channels of the level (both inputs).
        level (int): Which level of ``tokens_ckpt`` this loss reads
            (``mask_modules.<level>``). Defaults to 0.
        num_tokens (int): Tokens per level ``T``. Defaults to 6.
        weight_mask (bool): Whether the tokens have the probability head.
            Defaults to True.
        custom_mask (bool): Whether the student's masks join the teacher's
            after the warmup. Defaults to True.
        custom_mask_warmup (int): The iteration from which they do.
            Defaults to 1000.
        tokens_ckpt (str, optional): The stage-1 checkpoint (path or URL),
            loaded strictly. None: the tokens keep their random
            initialisation (a warning says so). Defaults to None.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 channels: int,
                 level: int = 0,
                 num_tokens: int = 6,
                 weight_mask: bool = True,
                 custom_mask: bool = True,
                 custom_mask_warmup: int = 1000,
                 tokens_ckpt: Optional[str] = None,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.level = check_int('MasKDLoss', 'level', level, 0)
        self.custom_mask = custom_mask
        self.custom_mask_warmup = check_int('MasKDLoss', 'custom_mask_warmup',
                                            custom_mask_warmup, 0)
        self.loss_weight = loss_weight
        self.tokens = ReceptiveTokens(channels, num_tokens, weight_mask)
        self.tokens.requires_grad_(False)
        self.tokens_ckpt = tokens_ckpt
        if tokens_ckpt:
            self.load_tokens(tokens_ckpt)
        else:
            print_log(
                f'MasKDLoss (level {level}): no `tokens_ckpt`; the tokens '
                'are random and stay frozen. Learn them first with '
                'ReceptiveTokenLearner (configs/maskd/maskd-tokens_*) and '
                'set `tokens_ckpt` to that checkpoint',
                logger='current',
                level=30)
        self._calls = 0
        self._student_masks_logged = False

    def load_tokens(self, filename: str) -> None:
        """Loads this level's tokens from a stage-1 checkpoint, strictly.

        Args:
            filename (str): Path or URL of the checkpoint.

        Raises:
            TokensCheckpointMismatch: No tokens for ``level``, or tokens of
                another shape (``channels``, ``num_tokens``) or form
                (``weight_mask``).
        """
        state_dict = tokens_state_dict(
            stage1_tokens(filename), self.level, filename)
        problems = state_dict_mismatches(self.tokens, state_dict, 'tokens')
        if problems:
            raise TokensCheckpointMismatch(
                f'MasKDLoss: the tokens of level {self.level} in '
                f'tokens_ckpt={filename!r} do not fit this loss '
                f'({len(problems)} problems):{problem_list(problems, 10)}\n'
                'Check `channels`, `num_tokens` and `weight_mask` against '
                'the stage-1 config')
        self.tokens.load_state_dict(state_dict, strict=True)

    def iteration(self) -> int:
        """The training iteration: mmengine's, else this loss's own count of
        training calls (outside a Runner)."""
        from_runner = runner_iteration(self.training)
        return self._calls if from_runner is None else from_runner

    def forward(self, preds_S: torch.Tensor,
                preds_T: torch.Tensor) -> torch.Tensor:
        """The MasKD loss of one level.

        Args:
            preds_S (Tensor): The student's aligned feature, ``(N, C, H, W)``.
            preds_T (Tensor): The teacher's feature, same shape.

        Returns:
            Tensor: The weighted loss, a scalar.
        """
        if preds_S.shape != preds_T.shape:
            raise ValueError(
                f'MasKDLoss (level {self.level}): `preds_S` has shape '
                f'{tuple(preds_S.shape)} and `preds_T` '
                f'{tuple(preds_T.shape)}; map the student through a '
                'connector to the teacher\'s shape')
        student, teacher = upcast(preds_S), upcast(preds_T.detach())
        masks = self.tokens.masks(teacher)
        if self.custom_mask and self._uses_student_masks(self.iteration()):
            with torch.no_grad():
                masks = masks * self.tokens.masks(student)
        if self.training:
            self._calls += 1
        # sum_hw (M y_s - M y_t)^2 = sum_hw M^2 (y_s - y_t)^2: a (T, HW) by
        # (HW, C) product per sample instead of two (N, T, C, H, W) tensors.
        sq_masks = masks.square().flatten(2)
        sq_diff = (student - teacher).square().flatten(2)
        per_channel = torch.bmm(sq_masks, sq_diff.transpose(1, 2))
        area = masks.sum(dim=(2, 3)).clamp_min(torch.finfo(
            torch.float32).tiny)
        per_channel = per_channel / area.unsqueeze(-1)  # (N, T, C)
        if self.tokens.weight_mask:
            loss = (per_channel.mean(-1) * self.tokens.weights(teacher)).sum(
                -1).mean()
        else:
            loss = per_channel.mean()
        return self.loss_weight * loss

    def _uses_student_masks(self, iteration: int) -> bool:
        if iteration < self.custom_mask_warmup:
            return False
        if not self._student_masks_logged:
            self._student_masks_logged = True
            print_log(
                f'MasKDLoss (level {self.level}): from iteration '
                f'{iteration} the masks are the teacher\'s times the '
                'student\'s (custom_mask_warmup='
                f'{self.custom_mask_warmup})',
                logger='current')
        return True

    def extra_repr(self) -> str:
        return f'level={self.level}, custom_mask={self.custom_mask}, ' \
               f'custom_mask_warmup={self.custom_mask_warmup}, ' \
               f'loss_weight={self.loss_weight}'
