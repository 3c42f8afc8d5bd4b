"""ContiguousConnector: a record in contiguous memory, nothing else."""
from typing import Dict, Optional

import torch
from mmrazor.models.architectures.connectors.base_connector import \
    BaseConnector
from mmrazor.registry import MODELS


@MODELS.register_module()
class ContiguousConnector(BaseConnector):
    """Returns its input in contiguous memory; no parameters.

    Some records arrive as non-contiguous tensors: SegFormer's
    ``decode_head.conv_seg`` gives its logits in channels-last strides on
    CPU, and MMRazor's ``ChannelWiseDivergence`` reshapes its inputs with
    ``Tensor.view``, which then fails with ``RuntimeError: view size is not
    compatible with input tensor's size and stride``. Put this connector
    between such a record and the loss (on the student's and the teacher's
    side) instead of changing the loss. The values, shape and gradient are
    those of the input; a tensor that is already contiguous is returned
    as it is, without a copy.

    Args:
        init_cfg (dict, optional): Passed to ``BaseConnector``; there is
            nothing to initialise.

    Example:
        >>> connectors = dict(
        ...     logits_s=dict(type='ContiguousConnector'),
        ...     logits_t=dict(type='ContiguousConnector'))
    """

    def __init__(self, init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)

    def forward_train(self, feature: torch.Tensor) -> torch.Tensor:
        """Returns ``feature`` in contiguous memory.

        Args:
            feature (torch.Tensor): A record of any shape and strides.

        Returns:
            torch.Tensor: ``feature.contiguous()``: the same values, in
            row-major (contiguous) memory.
        """
        return feature.contiguous()
