"""Tiny components for tests that run mmengine's Runner on generated data.

Importing this module registers, in mmengine's root registries (so every
scope, ``mmrazor`` included, finds them):

* ``ToyNet`` (MODELS): a small conv classifier for 3x8x8 inputs; its
  ``channels`` sets its width, so a wide teacher and a narrow student share
  the same layer names (``head`` is the logits layer).
* ``ToyPatterns`` (DATASETS): a deterministic, learnable data set. Each class
  is a fixed random 3x8x8 pattern; a sample is its class pattern plus noise.
* ``ToyAccuracy`` (METRICS): top-1 accuracy of ``ToyNet``'s predictions.

Configs load it with ``custom_imports=dict(imports=['mmakd_toys'])``: put
``tests/data`` on ``PYTHONPATH``.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
from torch import nn
from torch.utils.data import Dataset

_Batch = Union[torch.Tensor, Sequence[torch.Tensor]]


def _stack(items: Optional[_Batch]) -> Optional[torch.Tensor]:
    if isinstance(items, (list, tuple)):
        return torch.stack(list(items))
    return items


@MODELS.register_module(force=True)
class ToyNet(BaseModel):
    """Conv, ReLU, global pooling, linear ``head``.

    Args:
        channels: Width of the conv layer.
        num_classes: Number of classes.
        data_preprocessor: mmengine data preprocessor config.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 channels: int = 4,
                 num_classes: int = 4,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, num_classes)

    def forward(self,
                inputs: _Batch,
                data_samples: Optional[_Batch] = None,
                mode: str = 'tensor') -> Union[torch.Tensor, Dict, List]:
        """Returns logits, a loss dict or per-sample predictions."""
        logits = self.head(self.backbone(_stack(inputs)))
        labels = _stack(data_samples)
        if mode == 'loss':
            return dict(loss_cls=nn.functional.cross_entropy(logits, labels))
        if mode == 'predict':
            preds = logits.argmax(dim=1)
            return [
                dict(pred_label=int(p), gt_label=int(g))
                for p, g in zip(preds, labels)
            ]
        return logits


@DATASETS.register_module(force=True)
class ToyPatterns(Dataset):
    """Class pattern plus Gaussian noise, the same for a given ``seed``.

    Args:
        num_samples: Length of the data set.
        num_classes: Number of classes (patterns).
        noise: Standard deviation of the noise.
        seed: Seed of the patterns and the noise.
    """
    METAINFO: dict = dict()

    def __init__(self,
                 num_samples: int = 64,
                 num_classes: int = 4,
                 noise: float = 0.5,
                 seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        patterns = torch.randn(num_classes, 3, 8, 8, generator=gen)
        self.labels = torch.arange(num_samples) % num_classes
        self.inputs = patterns[self.labels] + noise * torch.randn(
            num_samples, 3, 8, 8, generator=gen)

    @property
    def metainfo(self) -> dict:
        return self.METAINFO

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=self.inputs[index], data_samples=self.labels[index])


@METRICS.register_module(force=True)
class ToyAccuracy(BaseMetric):
    """Top-1 accuracy of the ``pred_label``/``gt_label`` dicts of ToyNet."""
    default_prefix = 'toy'

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        self.results.extend(
            int(s['pred_label'] == s['gt_label']) for s in data_samples)

    def compute_metrics(self, results: List[int]) -> Dict[str, float]:
        return dict(accuracy=100.0 * sum(results) / max(len(results), 1))
