"""One training step of a written config before it is kept.

:func:`verify_config` builds the config's model (random weights, no
checkpoint), runs one training step on a generated batch at the input size
(preprocessing, forward in ``mode='loss'``, backward, an SGD step) and
says where a failure happened: the stage and the innermost module of the
model in the traceback.
"""
import os.path as osp
import tempfile
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from torch import nn

from ..utils import disable_downloads, load_config, resolve_cfg_paths
from .probe import ConfigError, training_batch

#: What to change, by phrases of the error message.
HINTS = (
    (('view size is not compatible', ),
     'a record is not contiguous in memory: route it through a '
     "ContiguousConnector (type='ContiguousConnector')"),
    (('must match the size', 'shape'),
     'the paired outputs differ in shape at this input size: give '
     '--input-size a multiple of the largest stride, or --where outputs '
     'of the same stride'),
    (('out of memory', ), 'give a smaller --input-size, or --device cpu'),
)


class VerificationError(ConfigError):
    """The written config failed its training step; nothing was written."""


def check_device(device: str) -> torch.device:
    """``device`` as a torch device that this machine has.

    Raises:
        ConfigError: The device is unknown or not available.
    """
    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f'--device: {device!r} is not a device: {err}') \
            from None
    if parsed.type == 'cuda' and not torch.cuda.is_available():
        raise ConfigError(f'--device {device}: torch {torch.__version__} '
                          'sees no CUDA device on this machine; use --device '
                          'cpu (the default)')
    return parsed


def verify_config(render: Callable[[str], str], task: str,
                  size: Tuple[int, int], device: str = 'cpu') -> float:
    """Builds and trains one step of the config ``render`` writes.

    Args:
        render (callable): ``path -> config text`` (a relative ``_base_``
            depends on where the file is); called with a temporary path.
        task (str): ``'det'`` or ``'seg'``.
        size (tuple[int, int]): (H, W) of the generated images.
        device (str): Where to run the step. Defaults to ``'cpu'``.

    Returns:
        float: The seconds it took.

    Raises:
        VerificationError: A stage failed: the message names the stage, the
            module and what to change.
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix='distill_config_') as tmp:
        path = osp.join(tmp, 'verify.py')
        with open(path, 'w') as f:
            f.write(render(path))
        state: Dict[str, Any] = dict(stage='load', model=None)
        try:
            with first_iteration():
                _train_step(path, task, size, check_device(device), state)
        except VerificationError:
            raise
        except Exception as err:  # noqa: BLE001 (reported, not hidden)
            raise VerificationError(
                _failure(state['stage'], state['model'], err)) from err
    return time.perf_counter() - start


@contextmanager
def first_iteration() -> Iterator[None]:
    """The MessageHub says iteration 0, as in a Runner's first step
    (YOLOX's ``BatchSyncRandomResize`` reads it); restored after."""
    hub = MessageHub.get_current_instance()
    missing = object()
    before = hub.runtime_info.get('iter', missing)
    hub.update_info('iter', 0)
    try:
        yield
    finally:
        if before is missing:
            hub.pop_info('iter')
        else:
            hub.update_info('iter', before)


def _train_step(path: str, task: str, size: Tuple[int, int],
                device: torch.device, state: Dict[str, Any]) -> None:
    """The stages of one step; ``state['stage']`` says which is running."""
    from mmrazor.registry import MODELS
    cfg = load_config(path)
    state['stage'] = 'build'
    model_cfg = disable_downloads(resolve_cfg_paths(cfg.model))
    with DefaultScope.overwrite_default_scope('mmrazor'):
        model = MODELS.build(model_cfg)
    state['model'] = model
    model.to(device).train()
    state['stage'] = 'data preprocessing'
    batch = model.data_preprocessor(
        training_batch(model, task, size), True)
    state['stage'] = 'forward'
    losses = model(**batch, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    bad = [k for k, v in log_vars.items() if not torch.isfinite(v).all()]
    if bad:
        raise VerificationError(
            'verification: the first training step failed at the forward '
            f'stage: {", ".join(bad)} not finite. Check the loss weight '
            '(--loss-weight). Nothing was written (--no-verify writes the '
            'config without this step)')
    state['stage'] = 'backward'
    loss.backward()
    state['stage'] = 'optimizer step'
    params = [p for p in model.parameters() if p.requires_grad]
    torch.optim.SGD(params, lr=1e-4).step()


def _failure(stage: str, model: Optional[nn.Module], err: Exception) -> str:
    """The message of a failed stage: where, what, and what to change."""
    module = _innermost_module(model, err) if model is not None else None
    where = f" in module '{module[0]}' ({module[1]})" if module else ''
    text = f'{type(err).__name__}: {err}'.strip()
    hint = next((h for phrases, h in HINTS
                 if any(phrase in str(err) for phrase in phrases)),
                '`--list` on both configs shows what each outputs')
    return (f'verification: the first training step failed at the {stage} '
            f'stage{where}: {text.splitlines()[0]}. {hint}. Nothing was '
            'written (--no-verify writes the config without this step)')


def _innermost_module(model: nn.Module,
                      err: Exception) -> Optional[Tuple[str, str]]:
    """(name, class) of the deepest module of ``model`` in the traceback."""
    names = {id(m): name for name, m in model.named_modules() if name}
    found = None
    for frame, _ in traceback.walk_tb(err.__traceback__):
        owner = frame.f_locals.get('self')
        if id(owner) in names:
            found = (names[id(owner)], type(owner).__name__)
    return found
