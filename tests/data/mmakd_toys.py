"""Tiny components for tests that run mmengine's Runner on generated data.

Importing this module registers, in mmengine's root registries (so every
scope, ``mmrazor`` included, finds them):

* ``ToyNet`` (MODELS): a small conv classifier for 3x8x8 inputs; its
  ``channels`` sets its width, so a wide teacher and a narrow student share
  the same layer names (``head`` is the logits layer).
* ``ToyPatterns`` (DATASETS): a deterministic, learnable data set. Each class
  is a fixed random 3x8x8 pattern; a sample is its class pattern plus noise.
* ``ToyAccuracy`` (METRICS): top-1 accuracy of ``ToyNet``'s predictions.
* ``AvatarProbeHook`` (HOOKS): writes, per rank and training iteration, what
  each ``AvatarGenerator`` drew (stream seed, a digest of the dropout mask,
  the Avatars' sum), a digest of torch's global random state and the total
  loss, to ``<work_dir>/probe_<tag>_rank<r>.json``.
* ``PoisonTeacherHook`` (HOOKS): fills the teacher's weights with NaN on one
  rank at one iteration.

Configs load it with ``custom_imports=dict(imports=['mmakd_toys'])``: put
``tests/data`` on ``PYTHONPATH``.
"""
import hashlib
import json
import os.path as osp
from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from mmengine.dist import get_rank
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS
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


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


def _bare(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module(force=True)
class AvatarProbeHook(Hook):
    """Records what the Avatars and torch's global stream did, per iteration.

    Args:
        tag: Part of the file name, to tell runs in one work dir apart.
    """

    priority = 'VERY_LOW'

    def __init__(self, tag: str = 'run') -> None:
        self.tag = tag
        self.avatars: Dict[str, List[Dict[str, Any]]] = {}
        self.iters: Dict[str, Dict[str, Any]] = {}

    def before_train(self, runner) -> None:
        from mmakd.models import AvatarGenerator
        for name, module in _bare(runner.model).named_modules():
            if isinstance(module, AvatarGenerator):
                module.register_forward_hook(partial(self._drawn, runner))

    def _drawn(self, runner, module: nn.Module, args: Any,
               output: Any) -> None:
        levels = output if isinstance(output, (tuple, list)) else [output]
        self.avatars.setdefault(str(runner.iter), []).append(
            dict(
                stream=module.random.stream,
                seed=module.random.last_seed,
                mask=_digest(b''.join(
                    (a == 0).cpu().numpy().tobytes() for a in levels)),
                sum=sum(float(a.double().sum()) for a in levels)))

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        self.iters[str(runner.iter)] = dict(
            global_rng=_digest(torch.get_rng_state().numpy().tobytes()),
            loss=float(outputs['loss']) if outputs else None)

    def after_train(self, runner) -> None:
        path = osp.join(runner.work_dir,
                        f'probe_{self.tag}_rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(
                dict(
                    seed=runner.seed,
                    avatars=self.avatars,
                    iters=self.iters),
                f)


@HOOKS.register_module(force=True)
class PoisonTeacherHook(Hook):
    """Fills the teacher's parameters with NaN on ``rank`` before training
    iteration ``iteration``.

    Args:
        rank: The rank to poison.
        iteration: The 0-based training iteration.
    """

    def __init__(self, rank: int = 1, iteration: int = 2) -> None:
        self.rank = rank
        self.iteration = iteration

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Any = None) -> None:
        if get_rank() == self.rank and runner.iter == self.iteration:
            with torch.no_grad():
                for param in _bare(runner.model).teacher.parameters():
                    param.fill_(float('nan'))
