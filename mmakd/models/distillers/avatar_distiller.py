"""AvatarDistiller: MMRazor's ConfigurableDistiller with Avatars."""
import inspect
import math
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple, Union

import torch
from mmengine.dist import all_gather, get_rank
from mmengine.logging import MessageHub, print_log
from mmrazor.models.architectures.connectors import MGDConnector
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.models.task_modules.recorder import ModuleOutputsRecorder
from mmrazor.registry import MODELS
from torch import nn

from ...engine.hooks.avatar_stats_hook import LOGGED_ITER_KEY
from ..avatars.avatar_generator import generator_cfg
from ..avatars.avatar_random import runner_iteration
from ..losses.akd_options import check_eps, check_sigma, check_uncertainty
from ..losses.loss_keys import resolve_keys
from ..losses.uncertainty import release_form, standardise_before_generation
from ..losses.uncertainty_aware_kd_loss import UncertaintyAwareKDLoss

#: Iterations checked for NaN/inf on every device before the interval rules.
FIRST_CHECKED_ITERS = 10
#: A checked distill loss this many times its first checked value is logged.
LOSS_GROWTH_WARNING = 100.0


@MODELS.register_module()
class AvatarDistiller(ConfigurableDistiller):
    """``ConfigurableDistiller`` whose teacher-reading losses learn from
    Avatars (Avatar Knowledge Distillation, Zhang et al., ACM MM 2023).

    Every distill loss that reads a teacher record is wrapped in
    :class:`UncertaintyAwareKDLoss` (unless it already is one, or is listed in
    ``exclude_losses``), so an existing MMRazor recipe gains Avatars by
    changing the distiller's ``type``. Each iteration, the Avatars of a
    teacher record are generated once, from the one teacher forward, and
    shared by every loss that reads that record.

    Args:
        avatar_generator (dict): Config of the :class:`AvatarGenerator`. A
            dict without ``type`` updates the defaults, e.g.
            ``dict(num_avatars=2)``. Defaults to
            ``dict(type='AvatarGenerator')`` (1 Avatar, element dropout 0.1).
        uncertainty (str): Uncertainty factor of the wrapped losses:
            ``'paper'``, ``'official'``, ``'release'`` or ``'none'``.
            Defaults to ``'paper'``. With ``'release'``, a wrapped
            ``MGDLoss`` whose student input goes through an ``MGDConnector``
            gets the release's order: the student is standardised inside
            that connector, before its masking and generation (after its
            ``align`` conv, if any; see ``standardise_before_generation``
            in ``mmakd/models/losses/uncertainty.py``).
        uncertainty_eps (float): Relative floor of ``sigma^2`` for
            ``'paper'``. Defaults to 1e-2.
        sigma (str): ``'sampled'`` (sigma from the drawn Avatars) or
            ``'expected'`` (from the perturbation's closed-form
            ``E_i[(A_i - T)^2]``, falling back to ``'sampled'`` where there
            is none); ``'paper'`` only. Defaults to ``'sampled'``.
        exclude_losses (Iterable[str]): Names in ``distill_losses`` to leave
            unwrapped (they see the vanilla teacher). Defaults to ().
        log_stats (bool): Log each wrapped loss's mean sigma and Avatar
            spread as ``akd_sigma.<name>`` / ``akd_spread.<name>``, where
            ``<name>`` is the loss name without ``loss_``, and
            ``akd_sigma_<i>.<name>`` per level of a multi-level record. Keys
            without "loss" are logged, not added to the total loss. With
            ``custom_hooks=[dict(type='AvatarStatsHook')]`` they are
            computed only on the iterations that ``LoggerHook`` logs;
            without it, every iteration. Defaults to True.
        check_finite_interval (int): The inputs of every wrapped loss and
            the loss are checked for NaN/inf, and the loss for growth by
            orders of magnitude, at the first 10 training iterations and
            every ``check_finite_interval`` iterations after; on the CPU at
            every iteration. A check reads one value from the device (one
            host-device sync), so on a GPU most iterations are not checked.
            0 checks only the first 10. Defaults to 50.
        **kwargs: Everything ``ConfigurableDistiller`` accepts.

    Note:
        Arguments are checked in two rounds: first
        ``ConfigurableDistiller.__init__`` runs on exactly the arguments it
        would get on its own (so a malformed ``loss_forward_mappings`` gets
        its ``TypeError`` / ``AssertionError``), then this class checks its
        own and wraps the built losses.

    Note:
        The Avatars draw from random streams of their own
        (:mod:`~mmakd.models.avatars.avatar_random`), never from torch's
        global generator: at iteration k the draws depend only on the run's
        seed, the rank, k and the generator's place in this distiller. Ranks
        draw different Avatars, a resumed run (``--resume``, also without
        ``randomness.seed``) draws what the uninterrupted run drew, and
        nothing about them is in the state dict, the checkpoint or what
        mmengine broadcasts or averages (EMA).

    """

    def __init__(self,
                 avatar_generator: Optional[Dict] = None,
                 uncertainty: str = 'paper',
                 uncertainty_eps: float = 1e-2,
                 sigma: str = 'sampled',
                 exclude_losses: Union[str, Iterable[str], None] = (),
                 log_stats: bool = True,
                 check_finite_interval: int = 50,
                 distill_losses: Optional[Dict[str, Dict]] = None,
                 loss_forward_mappings: Optional[Dict[str, Dict]] = None,
                 **kwargs) -> None:
        # ConfigurableDistiller's checks first, on its own inputs.
        super().__init__(
            distill_losses=distill_losses,
            loss_forward_mappings=loss_forward_mappings,
            **kwargs)
        check_uncertainty('AvatarDistiller', uncertainty)
        check_sigma('AvatarDistiller', sigma, uncertainty)
        eps = check_eps('AvatarDistiller', 'uncertainty_eps', uncertainty_eps)
        exclude = _loss_names(exclude_losses)
        unknown = exclude - set(self.distill_losses)
        if unknown:
            raise KeyError(f'AvatarDistiller: `exclude_losses` names '
                           f'{sorted(unknown)}, which are not in '
                           f'`distill_losses` ({sorted(self.distill_losses)})')
        gen_cfg = generator_cfg('AvatarDistiller', avatar_generator)
        if not isinstance(log_stats, bool):
            raise TypeError('AvatarDistiller: `log_stats` must be True or '
                            f'False, but got {log_stats!r}')
        if isinstance(check_finite_interval, bool) or not isinstance(
                check_finite_interval, int) or check_finite_interval < 0:
            raise ValueError('AvatarDistiller: `check_finite_interval` must '
                             'be an int >= 0, but got '
                             f'{check_finite_interval!r}')
        self.avatar_generator = MODELS.build(gen_cfg)
        self.log_stats = log_stats
        self.check_finite_interval = check_finite_interval
        self._wrap_losses(distill_losses or {}, exclude,
                          dict(uncertainty=uncertainty, eps=eps, sigma=sigma))
        self._check_teacher_connectors()
        self._standardise_release_connectors()
        self._name_streams()
        self._stat_tags = stat_tags(
            [name for name, *_ in self._wrapped_losses()])
        # Finite-check state: calls without a runner, first loss values.
        self._calls = 0
        self._last_clean: Optional[int] = None
        self._first_loss: Dict[str, Tuple[int, float]] = {}
        self._warned: Set[str] = set()

    def _wrap_losses(self, cfgs: Dict[str, Any], exclude: Set[str],
                     options: Dict[str, Any]) -> None:
        """Wraps each built teacher-reading loss in the distill losses.

        Explicit wrappers get the distiller's ``uncertainty``, ``eps`` and
        ``sigma`` where their config does not set them. Wrappers made here
        have no generator of their own: this distiller supplies the Avatars.

        Args:
            cfgs (dict): ``distill_losses`` as given.
            exclude (set[str]): Names to leave as they are.
            options (dict): ``uncertainty``, ``eps`` and ``sigma``.
        """
        for name, loss in list(self.distill_losses.items()):
            cfg = cfgs.get(name, {})
            if isinstance(loss, UncertaintyAwareKDLoss):
                loss.set_options(
                    uncertainty=None
                    if 'uncertainty' in cfg else options['uncertainty'],
                    eps=None if 'eps' in cfg else options['eps'],
                    sigma=None if 'sigma' in cfg else options['sigma'])
                continue
            mapping = self.loss_forward_mappings.get(name, {})
            teacher_keys = [
                key for key, record in mapping.items()
                if isinstance(record, dict)
                and record.get('from_student') is False
            ]
            if name in exclude or not teacher_keys:
                continue
            student_key, teacher_key = resolve_keys(
                'AvatarDistiller', name, inspect.signature(loss.forward),
                mapping=mapping)
            self.distill_losses[name] = UncertaintyAwareKDLoss(
                base_loss=loss,
                student_key=student_key,
                teacher_key=teacher_key,
                **options)

    def _check_teacher_connectors(self) -> None:
        """Rejects a trainable connector on a record that becomes Avatars.

        Avatars are built from the detached teacher record, after its
        connector: that connector would silently stop learning.
        """
        for name, loss in self.distill_losses.items():
            if not isinstance(loss, UncertaintyAwareKDLoss):
                continue
            record = self.loss_forward_mappings.get(name,
                                                    {}).get(loss.teacher_key)
            connector = record.get('connector') if isinstance(
                record, dict) else None
            if connector is None:
                continue
            if any(p.requires_grad
                   for p in self.connectors[connector].parameters()):
                raise ValueError(
                    f'AvatarDistiller: loss {name!r} reads the teacher record '
                    f'{record.get("recorder")!r} through the trainable '
                    f'connector {connector!r}; its Avatars are built from '
                    'the detached teacher, so the connector would get no '
                    'gradient. Put the connector on the student side, or '
                    f"list {name!r} in `exclude_losses`")

    def _standardise_release_connectors(self) -> None:
        """The release's MGD order for ``uncertainty='release'``.

        The release standardises the raw student before MGD's masking and
        generation; here that block is the student's ``MGDConnector``, so
        the connector gets a hook that standardises its input there, and
        the loss standardises only the Avatars.
        """
        users: Dict[str, List[str]] = {}
        for name, mapping in self.loss_forward_mappings.items():
            for record in mapping.values():
                if isinstance(record, dict) and record.get('connector'):
                    users.setdefault(record['connector'], []).append(name)
        for name, loss in self.distill_losses.items():
            if not isinstance(loss, UncertaintyAwareKDLoss) or \
                    loss.uncertainty != 'release' or \
                    release_form(loss.base_loss) != 'before_generation':
                continue
            record = self.loss_forward_mappings.get(name, {}).get(
                loss.student_key, {})
            connector = record.get('connector')
            module = self.connectors[connector] if connector else None
            if not isinstance(module, MGDConnector):
                raise ValueError(
                    f"AvatarDistiller: loss {name!r} (MGD with uncertainty="
                    "'release') standardises the student before MGD's "
                    'masking and generation, so its student input '
                    f'`{loss.student_key}` must go through an MGDConnector, '
                    f'but its connector is {connector!r} '
                    f'({type(module).__name__}); use '
                    "uncertainty='official' for this loss")
            others = [n for n in users[connector] if n != name]
            if others:
                raise ValueError(
                    f'AvatarDistiller: the MGDConnector {connector!r} of '
                    f"loss {name!r} (uncertainty='release') standardises "
                    f'its input, but losses {others} read it too; give '
                    'them a connector of their own')
            standardise_before_generation(module)
            loss.student_standardised_upstream = True

    def prepare_from_teacher(self, model: nn.Module) -> None:
        """Initialises the teacher recorders; checks what the Avatars need.

        A spatial perturbation (``SpatialMask``) on a record that is known
        to have no spatial dimensions (the output of an ``nn.Flatten``) is
        an error here, at build time; other records are checked at the
        first step.
        """
        super().prepare_from_teacher(model)
        modules = dict(model.named_modules())
        for name, loss, record in self._wrapped():
            generator = self._generator_of(name, loss)
            if not generator.needs_spatial or record.get('connector'):
                continue
            recorder = self.teacher_recorders.get_recorder(record['recorder'])
            module = modules.get(recorder.source) if isinstance(
                recorder, ModuleOutputsRecorder) else None
            if isinstance(module, nn.Flatten) and module.start_dim == 1 \
                    and module.end_dim == -1:
                raise ValueError(
                    f'AvatarDistiller: loss {name!r} makes Avatars of the '
                    f'teacher record {record["recorder"]!r}, the output of '
                    f'{recorder.source!r} ({type(module).__name__}): '
                    '(B, C) features without spatial dimensions, but '
                    f'`avatar_generator` has {generator.perturbations}, '
                    'which masks spatial positions; use ElementDropout, '
                    'ChannelDropout or GaussianNoise for this loss')

    def _load_from_state_dict(self, state_dict: Dict, prefix: str, *args,
                              **kwargs) -> None:
        """As ``nn.Module``'s, ignoring the torch random state that
        checkpoints of earlier mmakd versions saved as
        ``distiller._extra_state`` (the Avatars have streams of their own
        now)."""
        state_dict.pop(prefix + '_extra_state', None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def manual_seed(self, seed: int) -> 'AvatarDistiller':
        """Seeds every Avatar stream of this distiller with ``seed`` and
        restarts its call count, for repeatable draws outside a training
        run (under a Runner the streams follow the run's seed).

        Args:
            seed (int): The seed.

        Returns:
            AvatarDistiller: self.
        """
        self._calls = 0
        self.avatar_generator.manual_seed(seed)
        for _, loss in self._wrapped_losses():
            if loss.avatar_generator is not None:
                loss.avatar_generator.manual_seed(seed)
        return self

    def _name_streams(self) -> None:
        """Names each generator's random stream after its place here, so
        that two generators never draw the same masks."""
        self.avatar_generator.random.stream = 'avatar_generator'
        for name, loss in self._wrapped_losses():
            if loss.avatar_generator is not None:
                loss.avatar_generator.random.stream = \
                    f'distill_losses.{name}.avatar_generator'

    def _stat_items(self, loss_name: str,
                    stats: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Log keys for ``stats`` of ``loss_name``: see :func:`stat_tags`."""
        tag = self._stat_tags[loss_name]
        return {f'akd_{stat}.{tag}': value for stat, value in stats.items()}

    def _wrapped_losses(self) -> List[Tuple[str, UncertaintyAwareKDLoss]]:
        """(name, wrapper) of each wrapped loss."""
        return [(name, loss) for name, loss in self.distill_losses.items()
                if isinstance(loss, UncertaintyAwareKDLoss)]

    def _wrapped(self) -> List[Tuple[str, UncertaintyAwareKDLoss, Dict]]:
        """(name, wrapper, teacher record) of each computed wrapped loss."""
        return [(name, loss, self.loss_forward_mappings[name][
            loss.teacher_key]) for name, loss in self._wrapped_losses()
                if loss.teacher_key in self.loss_forward_mappings.get(
                    name, {})]

    def _generator_of(self, name: str, loss: UncertaintyAwareKDLoss):
        """The generator that makes loss ``name``'s Avatars: the loss's own,
        else this distiller's."""
        return loss.avatar_generator or self.avatar_generator

    def compute_distill_losses(self) -> Dict[str, torch.Tensor]:
        """Computes every distill loss, wrapped ones on shared Avatars.

        Raises:
            FloatingPointError: On a checked iteration (see
                ``check_finite_interval``), an input of a wrapped loss, or
                the loss itself, has NaN or inf values.
            ValueError: A spatial perturbation meets a record without
                spatial dimensions.
        """
        iteration = self._iteration()
        with_stats = self._stats_wanted()
        losses, avatar_cache = {}, {}
        checked: List[Tuple[str, str, Dict, torch.Tensor]] = []
        for loss_name, forward_mappings in self.loss_forward_mappings.items():
            forward_kwargs = {
                key: self.get_record(**record)
                for key, record in forward_mappings.items()
            }
            loss_module = self.distill_losses[loss_name]
            if not isinstance(loss_module, UncertaintyAwareKDLoss):
                losses[loss_name] = loss_module(**forward_kwargs)
                continue
            generator = self._generator_of(loss_name, loss_module)
            record = forward_mappings[loss_module.teacher_key]
            teacher = forward_kwargs[loss_module.teacher_key]
            cache_key = (id(generator), tuple(sorted(record.items())))
            if cache_key not in avatar_cache:
                _check_spatial(generator, loss_name, record, teacher)
                avatar_cache[cache_key] = generator(teacher, step=iteration)
            loss, stats = loss_module.forward_avatars(
                forward_kwargs, avatar_cache[cache_key], with_stats,
                perturbations=generator.perturbations)
            losses[loss_name] = loss
            losses.update(self._stat_items(loss_name, stats))
            checked.extend((loss_name, key, forward_mappings[key], value)
                           for key, value in forward_kwargs.items()
                           if key in (loss_module.student_key,
                                      loss_module.teacher_key))
        if checked and self._is_checked(iteration, checked):
            self._check_finite(iteration, losses, checked)
        return losses

    def _iteration(self) -> int:
        """The runner's current iteration, else the calls so far."""
        self._calls += 1
        info = runner_iteration(self.training)
        return self._calls - 1 if info is None else info

    def _stats_wanted(self) -> bool:
        """Whether this call computes the logged statistics: with
        ``log_stats``, unless ``AvatarStatsHook`` says that this training
        iteration is not logged."""
        if not self.log_stats:
            return False
        logged = MessageHub.get_current_instance().get_info(
            LOGGED_ITER_KEY) if self.training else None
        return logged is not False

    def _is_checked(self, iteration: int, checked: List) -> bool:
        """Whether this iteration reads the finite check from the device."""
        on_cpu = all(value.device.type == 'cpu'
                     for *_, value in checked
                     if isinstance(value, torch.Tensor))
        return should_check(iteration, self.check_finite_interval, on_cpu)

    def _check_finite(self, iteration: int, losses: Dict[str, torch.Tensor],
                      checked: List) -> None:
        """Raises on NaN/inf in ``checked`` or the wrapped losses of any
        rank, on every rank alike; warns on growth. One gather across the
        ranks and one read from the device for all of them."""
        entries, extremes, seen = [], [], set()
        for loss_name, key, record, value in checked:
            record_id = tuple(sorted(record.items()))
            if record_id in seen:  # shared by several losses: check once
                continue
            seen.add(record_id)
            for level, tensor in enumerate(_tensors(value)):
                entries.append((loss_name, key, record, level))
                extremes.extend(_extremes(tensor))
        names = sorted({name for name, *_ in checked})
        values = torch.stack(
            [losses[name].detach().float().reshape(()) for name in names] +
            extremes)
        # Every rank sees every rank's flags, so that all of them stop
        # here with the same error instead of waiting in the next
        # all-reduce for the one that raised.
        ranks = all_gather(values)
        read = torch.stack(ranks).tolist()  # the one host-device sync
        last = '' if self._last_clean is None else \
            f' (last checked clean at iteration {self._last_clean})'
        for rank, row in enumerate(read):
            on_rank = f' on rank {rank}' if len(read) > 1 else ''
            self._raise_if_not_finite(iteration, names, entries, row,
                                      on_rank + last)
        for name, value in zip(names, read[get_rank()][:len(names)]):
            self._warn_growth(name, iteration, value, losses)
        self._last_clean = iteration

    def _raise_if_not_finite(self, iteration: int, names: List[str],
                             entries: List, row: List[float],
                             where: str) -> None:
        """The named error for the first NaN/inf of one rank's ``row``
        (the loss values, then the min and max of each checked record
        level)."""
        loss_values, extremes = row[:len(names)], row[len(names):]
        for index, (loss_name, key, record, level) in enumerate(entries):
            low, high = extremes[2 * index:2 * index + 2]
            if not (math.isfinite(low) and math.isfinite(high)):
                side = 'student' if record.get('from_student') else 'teacher'
                level_part = f', level {level}' if level else ''
                raise FloatingPointError(
                    f'AvatarDistiller: the {side} record '
                    f'{record.get("recorder")!r}{level_part} (argument '
                    f'`{key}` of loss {loss_name!r}) has NaN or inf values '
                    f'at iteration {iteration}{where}; the loss and the '
                    'gradients would be NaN. Check the learning rate, the '
                    'loss weights and the teacher checkpoint')
        for name, value in zip(names, loss_values):
            if not math.isfinite(value):
                raise FloatingPointError(
                    f'AvatarDistiller: loss {name!r} is {value} at '
                    f'iteration {iteration}{where} although its inputs are '
                    'finite; check its loss weight and, with '
                    "uncertainty='paper', the logged akd_sigma (the loss "
                    'scales like 1/sigma^2 for a quadratic base loss)')

    def _warn_growth(self, name: str, iteration: int, value: float,
                     losses: Dict[str, torch.Tensor]) -> None:
        """Logs once per loss when it grew by orders of magnitude."""
        first = self._first_loss.setdefault(name, (iteration, abs(value)))
        if name in self._warned or first[1] == 0 or \
                abs(value) < LOSS_GROWTH_WARNING * first[1]:
            return
        self._warned.add(name)
        sigma = losses.get(
            self._stat_items(name, {'sigma': None}).popitem()[0])
        hint = '' if sigma is None else \
            f' (mean sigma now {float(sigma):.3g})'
        print_log(
            f'AvatarDistiller: distill loss {name!r} grew from '
            f'{first[1]:.4g} at iteration {first[0]} to {value:.4g} at '
            f'iteration {iteration}. With uncertainty='
            f"{self.distill_losses[name].uncertainty!r}"
            f'{hint}, student and Avatars are divided by sigma, which '
            'scales a quadratic base loss by about 1/sigma^2 as the '
            'Avatar spread shrinks; consider a lower loss weight or '
            "learning rate, or uncertainty='none'",
            logger='current',
            level=30)


def should_check(iteration: int, interval: int, on_cpu: bool) -> bool:
    """Whether ``AvatarDistiller`` checks for NaN/inf at ``iteration``.

    Every iteration on the CPU (nothing to synchronise); on an accelerator
    the first :data:`FIRST_CHECKED_ITERS` iterations and every
    ``interval``-th after (none after them when ``interval`` is 0), so that
    most iterations add no host-device sync.

    Args:
        iteration (int): 0-based training iteration.
        interval (int): ``check_finite_interval``.
        on_cpu (bool): Whether the checked tensors are on the CPU.

    Returns:
        bool: True to check.
    """
    if on_cpu or iteration < FIRST_CHECKED_ITERS:
        return True
    return interval > 0 and (iteration + 1) % interval == 0


def _check_spatial(generator: nn.Module, loss_name: str, record: Dict,
                   teacher: Any) -> None:
    """A named error where a spatial perturbation meets a flat record."""
    if not generator.needs_spatial:
        return
    for tensor in _tensors(teacher):
        if tensor.dim() < 3:
            raise ValueError(
                f'AvatarDistiller: loss {loss_name!r} makes Avatars of the '
                f'teacher record {record.get("recorder")!r} of shape '
                f'{tuple(tensor.shape)}, which has no spatial dimensions, '
                f'but `avatar_generator` has {generator.perturbations}, '
                'which masks spatial positions (B, C, H, W, ...); use '
                'ElementDropout, ChannelDropout or GaussianNoise for this '
                'loss')


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


def _loss_names(exclude_losses: Union[str, Iterable[str], None]) -> Set[str]:
    """``exclude_losses`` as a set of names: a str is one name."""
    if exclude_losses is None:
        return set()
    if isinstance(exclude_losses, str):
        return {exclude_losses}
    if isinstance(exclude_losses, (list, tuple, set, frozenset)) and all(
            isinstance(name, str) for name in exclude_losses):
        return set(exclude_losses)
    raise TypeError(
        'AvatarDistiller: `exclude_losses` must be a loss name, a list of '
        f'loss names or None, but got {exclude_losses!r}')


def stat_tags(loss_names: Iterable[str]) -> Dict[str, str]:
    """The tag of each loss in its statistics' log keys, ``akd_<stat>.<tag>``.

    mmengine adds every logged key that contains ``'loss'`` to the total
    loss, so the tag is free of it: the loss name without a leading
    ``loss_`` (``loss_cwd`` -> ``cwd``), and with ``'loss'`` elsewhere as
    ``'LOSS'``. Where that makes two tags equal (``loss_cwd`` and ``cwd``),
    those losses keep their whole name (``LOSS_cwd``, ``cwd``).

    Args:
        loss_names (Iterable[str]): The names of the wrapped losses.

    Returns:
        dict: Loss name -> tag, one tag per loss.

    Raises:
        ValueError: Two names still give one tag (they differ only in the
            case of ``'loss'``).
    """
    names = list(loss_names)

    def short(name: str) -> str:
        bare = name[len('loss_'):] if name.startswith('loss_') else name
        return bare.replace('loss', 'LOSS') or 'distill'

    shorts = [short(name) for name in names]
    tags = {
        name: tag if shorts.count(tag) == 1 else name.replace('loss', 'LOSS')
        for name, tag in zip(names, shorts)
    }
    seen: Dict[str, str] = {}
    for name, tag in tags.items():
        if tag in seen:
            raise ValueError(
                f'AvatarDistiller: the distill losses {seen[tag]!r} and '
                f'{name!r} would log their statistics under the same key '
                f"'akd_<stat>.{tag}'; rename one in `distill_losses`")
        seen[tag] = name
    return tags
