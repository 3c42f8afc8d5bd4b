"""What a detector or segmentor outputs where a distillation can record.

:func:`probe_model` builds a model from its config (random weights, CPU, no
checkpoint), runs one forward in ``mode='tensor'`` on a dummy batch, and
returns each recordable output with its shape, channels and stride, in the
terms of MMRazor's recorders (``ModuleOutputs`` of ``source``, the call
``record_idx`` and, for a tuple output, the element ``data_idx``).
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from torch import nn

from ..utils.config import input_size_of
from ..utils.offline import disable_downloads

#: What each kind of output is, in the order ``--list`` prints them.
KINDS = ('backbone stage', 'neck level', 'logits', 'module')


class ConfigError(ValueError):
    """A config, or a module named in it, that the generator cannot use."""


@dataclass(frozen=True)
class Output:
    """One recordable output of a model.

    Args:
        source (str): The module's name in the model (a recorder's
            ``source``).
        kind (str): One of :data:`KINDS`.
        record_idx (int): Which call of the module (a head conv shared by
            the FPN levels is called once per level).
        data_idx (int, optional): The element of a tuple output.
        shape (tuple[int]): The output's shape on the dummy batch.
        stride (int, optional): Input height over output height, for
            outputs with spatial dimensions.
        contiguous (bool): Whether the output was in contiguous memory
            (SegFormer's logits on the CPU are not).
    """
    source: str
    kind: str
    record_idx: int
    data_idx: Optional[int]
    shape: Tuple[int, ...]
    stride: Optional[int]
    contiguous: bool = True

    @property
    def channels(self) -> Optional[int]:
        """The channel count (dimension 1), or None for a flat output."""
        return self.shape[1] if len(self.shape) > 1 else None

    @property
    def name(self) -> str:
        """``source``, with ``[data_idx]`` and ``#call`` where they apply."""
        name = self.source
        if self.data_idx is not None:
            name += f'[{self.data_idx}]'
        if self.record_idx:
            name += f'#{self.record_idx}'
        return name


@dataclass
class ModelProbe:
    """The result of :func:`probe_model`.

    Args:
        task (str): ``'det'`` or ``'seg'``.
        scope (str): The config's default scope (``'mmdet'``, ``'mmseg'``).
        input_shape (tuple[int]): The batch after the data preprocessor.
        outputs (list[Output]): Every recordable output.
        two_stage (bool): Whether the detector has an RoI head.
        modules (list[str]): Every module name of the model.
    """
    task: str
    scope: str
    input_shape: Tuple[int, ...]
    outputs: List[Output]
    two_stage: bool
    modules: List[str]

    def of_kind(self, kind: str) -> List[Output]:
        return [o for o in self.outputs if o.kind == kind]

    def table(self) -> str:
        """The outputs as a Markdown table."""
        lines = [
            '| output | kind | recorder | shape | channels | stride |',
            '|---|---|---|---|---|---|'
        ]
        for out in sorted(self.outputs, key=lambda o: KINDS.index(o.kind)):
            where = f"ModuleOutputs(source='{out.source}')"
            if out.record_idx:
                where += f', record_idx={out.record_idx}'
            if out.data_idx is not None:
                where += f', data_idx={out.data_idx}'
            lines.append(
                f'| {out.name} | {out.kind} | {where} | '
                f'{tuple(out.shape)} | {out.channels} | '
                f'{"-" if out.stride is None else out.stride} |')
        return '\n'.join(lines)


def task_of(cfg: Config, key: str = 'config') -> Tuple[str, str]:
    """(``'det'`` or ``'seg'``, scope) of a model config.

    Raises:
        ConfigError: The config is not an mmdet detector or mmseg
            segmentor.
    """
    scope = cfg.get('default_scope')
    model = cfg.get('model')
    if not isinstance(model, (dict, ConfigDict)) or scope not in ('mmdet',
                                                                  'mmseg'):
        raise ConfigError(
            f'{key}: expected an mmdet detector or mmseg segmentor config '
            "(default_scope 'mmdet' or 'mmseg' and a `model`), but got "
            f'default_scope {scope!r} and model type '
            f'{(model or {}).get("type")!r}')
    return ('det' if scope == 'mmdet' else 'seg'), scope


def build_random(cfg: Config, scope: str) -> nn.Module:
    """The config's model with the random weights of its construction (no
    ``init_weights``: shapes do not need it), on the CPU, in eval mode."""
    from mmengine.registry import MODELS
    model_cfg = disable_downloads(cfg.model)
    with DefaultScope.overwrite_default_scope(scope):
        _import_scope(scope)
        model = MODELS.build(model_cfg)
    return model.eval()


def _import_scope(scope: str) -> None:
    if scope == 'mmdet':
        from mmdet.utils import register_all_modules
    else:
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)


def training_batch(model: nn.Module, task: str,
                   size: Tuple[int, int]) -> Dict[str, Any]:
    """A batch of 2 generated images of ``size`` with ground truth, as a
    loader packs it (boxes, and masks for a mask head; label maps)."""
    height, width = size
    student = getattr(model, 'student', model)
    if task == 'det':
        from mmdet.testing import demo_mm_inputs
        head = getattr(student, 'bbox_head', None) or getattr(
            getattr(student, 'roi_head', None), 'bbox_head', None)
        if isinstance(head, nn.ModuleList):
            head = head[-1]
        return demo_mm_inputs(
            2, [[3, height, width]] * 2, num_items=[2, 2],
            num_classes=getattr(head, 'num_classes', 80),
            with_mask=bool(getattr(student, 'with_mask', False)))
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    preprocessor = model.data_preprocessor
    if getattr(preprocessor, 'size', None) is not None:
        preprocessor.size = tuple(size)  # pad to this size, not the crop
    classes = student.decode_head.num_classes
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(
            img_shape=size, ori_shape=size, pad_shape=size))
        sample.gt_sem_seg = PixelData(data=torch.randint(
            0, classes, (1, height, width), generator=gen))
        samples.append(sample)
    return dict(
        inputs=[
            torch.randint(0, 256, (3, height, width), generator=gen,
                          dtype=torch.uint8) for _ in range(2)
        ],
        data_samples=samples)


def dummy_batch(model: nn.Module, task: str,
                size: Tuple[int, int]) -> Dict[str, Any]:
    """:func:`training_batch` passed through the model's data
    preprocessor (inference mode)."""
    return model.data_preprocessor(training_batch(model, task, size), False)


def _logits_modules(model: nn.Module, task: str) -> List[str]:
    """The class-logit layers of the model's heads."""
    if task == 'seg':
        return [
            name for name, _ in model.named_modules()
            if name.endswith('conv_seg') and name.startswith('decode_head')
        ]
    names = []
    for head_name in ('bbox_head', 'rpn_head'):
        head = getattr(model, head_name, None)
        classes = getattr(head, 'cls_out_channels', None)
        if not classes:
            continue
        # The class-logit convs: out_channels is the classes per prior.
        priors = getattr(getattr(head, 'prior_generator', None),
                         'num_base_priors', [1]) or [1]
        counts = {classes * n for n in priors} | {classes}
        for name, module in head.named_modules():
            if isinstance(module, nn.Conv2d) and \
                    module.out_channels in counts and 'reg' not in name:
                names.append(f'{head_name}.{name}')
        if names:
            break
    return names


def probe_model(cfg: Config,
                input_size: Optional[Tuple[int, int]] = None,
                modules: Sequence[str] = (),
                key: str = 'config') -> ModelProbe:
    """Runs one forward of ``cfg``'s model and records what it outputs.

    Args:
        cfg (Config): An mmdet detector or mmseg segmentor config.
        input_size (tuple[int, int], optional): (H, W) of the dummy images.
            Defaults to :func:`input_size_of`.
        modules (Sequence[str]): More modules to record, by name.
        key (str): How to name the config in errors.

    Returns:
        ModelProbe: The outputs.

    Raises:
        ConfigError: Not a detector/segmentor config, or a name in
            ``modules`` that the model does not have.
    """
    task, scope = task_of(cfg, key)
    model = build_random(cfg, scope)
    names = dict(model.named_modules())
    unknown = [m for m in modules if m not in names]
    if unknown:
        raise ConfigError(f'{key}: no module {unknown} in the model')
    kinds = {'backbone': 'backbone stage'}
    if getattr(model, 'neck', None) is not None:
        kinds['neck'] = 'neck level'
    for name in _logits_modules(model, task):
        kinds[name] = 'logits'
    for name in modules:
        kinds.setdefault(name, 'module')
    calls: Dict[str, List[Any]] = {name: [] for name in kinds}
    handles = [
        names[name].register_forward_hook(
            lambda m, a, out, name=name: calls[name].append(out))
        for name in kinds
    ]
    batch = dummy_batch(model, task, input_size or input_size_of(cfg))
    try:
        with torch.no_grad(), DefaultScope.overwrite_default_scope(scope):
            model(batch['inputs'], batch['data_samples'], mode='tensor')
    finally:
        for handle in handles:
            handle.remove()
    height = batch['inputs'].shape[-2]
    outputs = [
        Output(name, kinds[name], call, index, tuple(t.shape),
               _stride(height, t), t.is_contiguous())
        for name, records in calls.items()
        for call, record in enumerate(records)
        for index, t in _elements(record)
    ]
    return ModelProbe(task, scope, tuple(batch['inputs'].shape), outputs,
                      getattr(model, 'with_roi_head', False)
                      or hasattr(model, 'roi_head'), list(names))


def _elements(record: Any) -> List[Tuple[Optional[int], torch.Tensor]]:
    """(data_idx, tensor) of a tensor output or of a tuple/list of them."""
    if isinstance(record, torch.Tensor):
        return [(None, record)]
    if isinstance(record, (tuple, list)):
        return [(i, t) for i, t in enumerate(record)
                if isinstance(t, torch.Tensor)]
    return []


def _stride(height: int, tensor: torch.Tensor) -> Optional[int]:
    if tensor.dim() < 4 or tensor.shape[-2] == 0:
        return None
    return max(1, round(height / tensor.shape[-2]))
