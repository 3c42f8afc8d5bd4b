"""Stage 1 of MasKD: receptive tokens learned on a frozen, trained detector."""
import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmrazor.models.algorithms.base import BaseAlgorithm
from mmrazor.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..losses.receptive_tokens import ReceptiveTokens
from .strict_teacher import load_teacher_checkpoint


@MODELS.register_module()
class ReceptiveTokenLearner(BaseAlgorithm):
    """Learns MasKD's receptive tokens on a frozen teacher (MasKD stage 1).

    One :class:`~mmakd.models.losses.ReceptiveTokens` per output of the
    teacher's ``neck``: each output ``x`` is replaced by the masked
    ``sum_t p_t (x * M_t)`` before the teacher's own heads see it, so the
    teacher's own loss trains the tokens, plus ``diversity_weight`` times the
    masks' dice coefficient per level (:func:`~mmakd.models.losses.
    dice_diversity`). Everything but the tokens is frozen
    (``requires_grad=False``) and the teacher's BatchNorm stays in eval mode,
    as in the official code (hunto/MasKD, ``mmdetection/maskd_hook.py``).
    Validation and ``predict`` run the teacher on the masked features, which
    shows how much of the teacher's accuracy the tokens keep.

    Unlike the official hook, this is a model: it runs under mmengine's
    Runner on one process or many (no ``DistributedDataParallel``
    assertion), and the checkpoint holds the tokens under the official key
    names (``mask_modules.<level>.mask_token``,
    ``mask_modules.<level>.prob.{0,2}.{weight,bias}``), which
    :class:`~mmakd.models.losses.MasKDLoss` (``tokens_ckpt``) reads.

    Args:
        teacher (dict | BaseModel): The trained detector (config, with
            ``cfg_path`` support, or model).
        teacher_ckpt (str, optional): Its checkpoint, loaded strictly. None:
            the teacher keeps its initialisation (a warning says so).
            Defaults to None.
        teacher_ckpt_strict (bool): Whether a checkpoint that does not fit
            the teacher is an error. Defaults to True.
        channels (Sequence[int]): Channels of each neck output. Defaults to
            5 levels of 256 (an FPN with P3-P7).
        num_tokens (int): Tokens per level. Defaults to 6.
        weight_mask (bool): Whether the tokens have the probability head.
            Defaults to True.
        diversity_weight (float): Weight of each level's dice loss.
            Defaults to 1.0.
        neck (str): The teacher's module whose outputs are masked.
            Defaults to ``'neck'``.
        data_preprocessor (dict, optional): Defaults to the teacher's.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 teacher: Union[BaseModel, Dict],
                 teacher_ckpt: Optional[str] = None,
                 teacher_ckpt_strict: bool = True,
                 channels: Sequence[int] = (256, ) * 5,
                 num_tokens: int = 6,
                 weight_mask: bool = True,
                 diversity_weight: float = 1.0,
                 neck: str = 'neck',
                 data_preprocessor: Optional[Union[Dict, nn.Module]] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(teacher, data_preprocessor, init_cfg)
        if not isinstance(channels, (list, tuple)) or not channels:
            raise ValueError('ReceptiveTokenLearner: `channels` must list '
                             'the channels of each neck output, but got '
                             f'{channels!r}')
        try:
            self.architecture.get_submodule(neck)
        except AttributeError as err:
            raise ValueError(
                f'ReceptiveTokenLearner: `neck`={neck!r} is not a module of '
                f'the teacher {type(self.architecture).__name__}') from err
        self.neck_name = neck
        self.diversity_weight = diversity_weight
        self.mask_modules = nn.ModuleList(
            ReceptiveTokens(c, num_tokens, weight_mask) for c in channels)
        if teacher_ckpt:
            load_teacher_checkpoint(self.architecture, teacher_ckpt,
                                    teacher_ckpt_strict)
            # Keeps init_weights() from overwriting it, as MMRazor does.
            self.architecture._is_init = True
        else:
            print_log(
                'ReceptiveTokenLearner: no `teacher_ckpt`; the tokens are '
                'learned on an untrained teacher', logger='current',
                level=30)
        self.architecture.requires_grad_(False)

    def train(self, mode: bool = True) -> 'ReceptiveTokenLearner':
        """Sets the mode; the teacher's BatchNorm stays in eval mode."""
        super().train(mode)
        for module in self.architecture.modules():
            if isinstance(module, _BatchNorm):
                module.eval()
        return self

    @contextlib.contextmanager
    def _masked_neck(self) -> Iterator[List[torch.Tensor]]:
        """Within it, the neck's outputs are masked; yields the list that
        collects each level's dice loss."""
        diversity: List[torch.Tensor] = []

        def mask_outputs(module, args, outputs):
            if not isinstance(outputs, (tuple, list)) or \
                    len(outputs) != len(self.mask_modules):
                got = f'{len(outputs)} outputs' if isinstance(
                    outputs, (tuple, list)) else type(outputs).__name__
                raise ValueError(
                    f'ReceptiveTokenLearner: `channels` lists '
                    f'{len(self.mask_modules)} levels but the teacher\'s '
                    f'`{self.neck_name}` returned {got}')
            masked = []
            for tokens, x in zip(self.mask_modules, outputs):
                out, dice = tokens(x)
                masked.append(out)
                diversity.append(dice)
            return type(outputs)(masked)

        # Looked up, not kept as an attribute: that would register the neck
        # a second time in the state dict.
        neck = self.architecture.get_submodule(self.neck_name)
        handle = neck.register_forward_hook(mask_outputs)
        try:
            yield diversity
        finally:
            handle.remove()

    def loss(self, inputs: torch.Tensor,
             data_samples: Optional[list] = None) -> Dict[str, torch.Tensor]:
        """The teacher's losses on the masked features, and the dice loss of
        each level (``loss_diversity_<level>``)."""
        with self._masked_neck() as diversity:
            losses = self.architecture(inputs, data_samples, mode='loss')
        for level, dice in enumerate(diversity):
            losses[f'loss_diversity_{level}'] = self.diversity_weight * dice
        return losses

    def _forward(self, inputs: torch.Tensor,
                 data_samples: Optional[list] = None):
        with self._masked_neck():
            return self.architecture(inputs, data_samples, mode='tensor')

    def _predict(self, inputs: torch.Tensor,
                 data_samples: Optional[list] = None):
        with self._masked_neck():
            return self.architecture(inputs, data_samples, mode='predict')
