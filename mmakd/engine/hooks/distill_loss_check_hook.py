"""DistillLossCheckHook: NaN/inf and growth checks of the Avatar losses."""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.dist import all_gather, get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmrazor.registry import HOOKS

from ...models.losses.uncertainty_aware_kd_loss import UncertaintyAwareKDLoss

#: Iterations checked on every device before ``interval`` applies.
FIRST_CHECKED_ITERS = 10
#: A checked distill loss this many times its first checked value is logged.
LOSS_GROWTH_WARNING = 100.0

#: (loss name, argument, record config, level) of one checked tensor.
Entry = Tuple[str, str, Dict, int]


@HOOKS.register_module()
class DistillLossCheckHook(Hook):
    """Stops training at the first NaN/inf in an Avatar loss or its inputs,
    and logs a loss that grows by orders of magnitude.

    After a training iteration it reads, for every loss of the distiller
    wrapped in :class:`~mmakd.models.losses.UncertaintyAwareKDLoss`, the
    student and teacher records it was computed from (the recorders still
    hold them) and the loss value from the iteration's outputs. A NaN or
    inf raises a ``FloatingPointError`` naming the record, the loss, the
    iteration and the rank; the ranks gather each other's flags, so every
    rank stops with the same error instead of waiting in the next
    all-reduce for the one that raised. As mmengine's
    ``CheckInvalidLossHook``, it runs before ``CheckpointHook``, so no
    checkpoint of the broken iteration is written.

    On an accelerator a check reads one value from the device (one
    host-device sync), so only the first :data:`FIRST_CHECKED_ITERS`
    iterations and every ``interval``-th after are checked; on the CPU
    every iteration is.

    Args:
        interval (int): Check every ``interval`` iterations after the
            first ones on an accelerator; 0 checks only the first ones.
            Defaults to 50.

    Example:
        >>> custom_hooks = [dict(type='DistillLossCheckHook', interval=50)]
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 50) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) \
                or interval < 0:
            raise ValueError('DistillLossCheckHook: `interval` must be an '
                             f'int >= 0, but got {interval!r}')
        self.interval = interval
        self._last_clean: Optional[int] = None
        self._first_loss: Dict[str, Tuple[int, float]] = {}
        self._warned: set = set()

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Any] = None,
                         outputs: Optional[Dict] = None) -> None:
        """Checks this iteration's wrapped losses and their inputs.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Unused.
            data_batch (Any, optional): Unused.
            outputs (dict, optional): The logged losses of the iteration;
                distill losses under ``distill.<name>``.
        """
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        distiller = getattr(model, 'distiller', None)
        if distiller is None or not hasattr(distiller, 'distill_losses'):
            raise TypeError(
                'DistillLossCheckHook checks the losses of an MMRazor '
                "distiller (`model.distiller`), but the model's type "
                f'{type(model).__name__} has none; remove the hook from '
                '`custom_hooks`')
        self.check(distiller, distill_outputs(outputs), runner.iter)

    def check(self, distiller, losses: Dict[str, Union[float, torch.Tensor]],
              iteration: int) -> None:
        """Checks the wrapped losses of ``distiller`` at ``iteration``.

        Args:
            distiller (ConfigurableDistiller): The distiller, its recorders
                holding the iteration's records.
            losses (dict): Distill loss name -> value (and the logged
                ``akd_sigma.<tag>`` statistics, if any). A wrapped loss
                without a value (distillation stopped) is not checked.
            iteration (int): The 0-based training iteration.

        Raises:
            FloatingPointError: A checked record or loss has NaN or inf
                values on some rank.
        """
        names = [
            name for name, loss in distiller.distill_losses.items()
            if isinstance(loss, UncertaintyAwareKDLoss) and name in losses
        ]
        entries, tensors = _checked_records(distiller, names)
        if not names or not should_check(
                iteration, self.interval,
                all(t.device.type == 'cpu' for t in tensors)):
            return
        values = [torch.as_tensor(losses[n]).detach().float().reshape(())
                  for n in names]
        device = tensors[0].device if tensors else torch.device('cpu')
        extremes = [x for t in tensors for x in _extremes(t)]
        ranks = all_gather(torch.stack([v.to(device) for v in values] +
                                       extremes))
        read = torch.stack(ranks).tolist()  # the one host-device sync
        last = '' if self._last_clean is None else \
            f' (last checked clean at iteration {self._last_clean})'
        for rank, row in enumerate(read):
            on_rank = f' on rank {rank}' if len(read) > 1 else ''
            _raise_if_not_finite(iteration, names, entries, row,
                                 on_rank + last)
        for name, value in zip(names, read[get_rank()][:len(names)]):
            self._warn_growth(distiller, name, iteration, value, losses)
        self._last_clean = iteration

    def _warn_growth(self, distiller, name: str, iteration: int,
                     value: float, losses: Dict) -> None:
        """Logs once per loss when it grew by orders of magnitude."""
        first = self._first_loss.setdefault(name, (iteration, abs(value)))
        if name in self._warned or first[1] == 0 or \
                abs(value) < LOSS_GROWTH_WARNING * first[1]:
            return
        self._warned.add(name)
        sigma = losses.get(distiller.stat_key(name, 'sigma')) if hasattr(
            distiller, 'stat_key') else None
        hint = '' if sigma is None else \
            f' (mean sigma now {float(sigma):.3g})'
        print_log(
            f'DistillLossCheckHook: distill loss {name!r} grew from '
            f'{first[1]:.4g} at iteration {first[0]} to {value:.4g} at '
            f'iteration {iteration}. With uncertainty='
            f'{distiller.distill_losses[name].uncertainty!r}'
            f'{hint}, student and Avatars are divided by sigma, which '
            'scales a quadratic base loss by about 1/sigma^2 as the '
            'Avatar spread shrinks; consider a lower loss weight or '
            "learning rate, or uncertainty='none'",
            logger='current',
            level=30)


def distill_outputs(outputs: Optional[Dict]) -> Dict[str, Any]:
    """The distill losses (and statistics) of a training step's outputs,
    which MMRazor's algorithms log as ``distill.<name>``, by name."""
    return {
        key[len('distill.'):]: value
        for key, value in (outputs or {}).items()
        if key.startswith('distill.')
    }


def should_check(iteration: int, interval: int, on_cpu: bool) -> bool:
    """Whether :class:`DistillLossCheckHook` checks ``iteration``.

    Every iteration on the CPU (nothing to synchronise); on an accelerator
    the first :data:`FIRST_CHECKED_ITERS` iterations and every
    ``interval``-th after (none after them when ``interval`` is 0).

    Args:
        iteration (int): 0-based training iteration.
        interval (int): The hook's ``interval``.
        on_cpu (bool): Whether the checked tensors are on the CPU.

    Returns:
        bool: True to check.
    """
    if on_cpu or iteration < FIRST_CHECKED_ITERS:
        return True
    return interval > 0 and (iteration + 1) % interval == 0


def _checked_records(distiller, names: Sequence[str]
                     ) -> Tuple[List[Entry], List[torch.Tensor]]:
    """The student and teacher records of the losses ``names``, each once.

    Records are read as recorded, before any connector: running a connector
    again here could draw from torch's random stream (MGD's masks).
    """
    entries: List[Entry] = []
    tensors: List[torch.Tensor] = []
    seen = set()
    for name in names:
        loss = distiller.distill_losses[name]
        mapping = distiller.loss_forward_mappings.get(name, {})
        for key in (loss.student_key, loss.teacher_key):
            record = mapping.get(key)
            if not isinstance(record, dict):
                continue
            raw = {k: v for k, v in record.items()
                   if k not in ('connector', 'connector_idx')}
            record_id = tuple(sorted(raw.items()))
            if record_id in seen:  # shared by several losses: check once
                continue
            seen.add(record_id)
            for level, tensor in enumerate(_tensors(
                    distiller.get_record(**raw))):
                entries.append((name, key, record, level))
                tensors.append(tensor)
    return entries, tensors


def _raise_if_not_finite(iteration: int, names: List[str],
                         entries: List[Entry], row: List[float],
                         where: str) -> None:
    """The named error for the first NaN/inf of one rank's ``row`` (the
    loss values, then the min and max of each checked record level)."""
    loss_values, extremes = row[:len(names)], row[len(names):]
    for index, (loss_name, key, record, level) in enumerate(entries):
        low, high = extremes[2 * index:2 * index + 2]
        if not (math.isfinite(low) and math.isfinite(high)):
            side = 'student' if record.get('from_student') else 'teacher'
            level_part = f', level {level}' if level else ''
            raise FloatingPointError(
                f'DistillLossCheckHook: the {side} record '
                f'{record.get("recorder")!r}{level_part} (argument `{key}` '
                f'of loss {loss_name!r}) has NaN or inf values at iteration '
                f'{iteration}{where}; the loss and the gradients would be '
                'NaN. Check the learning rate, the loss weights and the '
                'teacher checkpoint')
    for name, value in zip(names, loss_values):
        if not math.isfinite(value):
            raise FloatingPointError(
                f'DistillLossCheckHook: loss {name!r} is {value} at '
                f'iteration {iteration}{where} although its inputs are '
                "finite; check its loss weight and, with uncertainty='paper',"
                ' the logged akd_sigma (the loss scales like 1/sigma^2 for a '
                'quadratic base loss)')


def _extremes(tensor: torch.Tensor) -> List[torch.Tensor]:
    """The min and max of ``tensor`` as float32 0-dim tensors (no sync):
    both are finite iff every element is (NaN and inf carry through).

    One pass and no tensor-sized temporary, unlike ``isfinite().all()``.
    """
    tensor = tensor.detach()
    if tensor.numel() == 0:
        return [tensor.new_zeros((), dtype=torch.float32)] * 2
    return [x.float() for x in torch.aminmax(tensor)]


def _tensors(value: Any) -> List[torch.Tensor]:
    """The tensors of a record: itself, or the levels of a tuple/list."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []
