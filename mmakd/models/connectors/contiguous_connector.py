"""ContiguousConnector: a record in contiguous memory, after optional inner
connectors."""
from typing import Dict, Optional, Sequence

import torch
from mmrazor.models.architectures.connectors.base_connector import \
    BaseConnector
from mmrazor.registry import MODELS
from torch import nn


@MODELS.register_module()
class ContiguousConnector(BaseConnector):
    """Returns its input in contiguous memory, after optional connectors.

    Some records arrive as non-contiguous tensors: SegFormer's
    ``decode_head.conv_seg`` gives its logits in channels-last strides on
    CPU (and a 1x1 conv or an interpolation keeps them so), and MMRazor's
    ``ChannelWiseDivergence`` reshapes its inputs with ``Tensor.view``,
    which then fails with ``RuntimeError: view size is not compatible with
    input tensor's size and stride``. Put this connector between such a
    record and the loss (on the student's and the teacher's side) instead
    of changing the loss. The values, shape and gradient are those of the
    input (or of the last connector's output); a tensor that is already
    contiguous is returned as it is, without a copy.

    Args:
        connectors (Sequence[dict]): Connectors applied in order first,
            e.g. MMRazor's ``ConvModuleConnector`` (channels) and
            ``TorchFunctionalConnector`` with ``function_name='interpolate'``
            (size), as the recipe generator pairs outputs of different
            strides. Defaults to ().
        init_cfg (dict, optional): Passed to ``BaseConnector``.

    Example:
        >>> connectors = dict(
        ...     logits_s=dict(type='ContiguousConnector'),
        ...     logits_t=dict(type='ContiguousConnector'))
    """

    def __init__(self,
                 connectors: Sequence[Dict] = (),
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(connectors, dict) or not all(
                isinstance(c, dict) for c in connectors):
            raise TypeError('ContiguousConnector: `connectors` must be a '
                            'list of connector configs, but got '
                            f'{connectors!r}')
        self.connectors = nn.ModuleList(MODELS.build(c) for c in connectors)

    def forward_train(self, feature: torch.Tensor) -> torch.Tensor:
        """``feature`` through ``connectors``, in contiguous memory.

        Args:
            feature (torch.Tensor): A record of any shape and strides.

        Returns:
            torch.Tensor: The result in row-major (contiguous) memory.
        """
        for connector in self.connectors:
            feature = connector(feature)
        return feature.contiguous()
