"""AvatarDistiller: MMRazor's ConfigurableDistiller with Avatars."""
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import torch
from mmengine.logging import MessageHub
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.models.task_modules.recorder import ModuleOutputsRecorder
from mmrazor.registry import MODELS
from torch import nn

from ...engine.hooks.avatar_stats_hook import LOGGED_ITER_KEY
from ..avatars.avatar_generator import generator_cfg
from ..avatars.avatar_random import runner_iteration
from ..avatars.perturbations import NoSpatialDimensions
from ..checks import (check_bool, check_eps, check_loss_names, check_sigma,
                      check_uncertainty)
from ..losses.base_losses import prepare_of, resolve_keys
from ..losses.uncertainty_aware_kd_loss import UncertaintyAwareKDLoss
from .stat_keys import stat_tags


@MODELS.register_module()
class AvatarDistiller(ConfigurableDistiller):
    """``ConfigurableDistiller`` whose teacher-reading losses learn from
    Avatars (Avatar Knowledge Distillation, Zhang et al., ACM MM 2023).

    Every distill loss that reads a teacher record is wrapped in
    :class:`UncertaintyAwareKDLoss` (unless it already is one, or is listed in
    ``exclude_losses``), so an existing MMRazor recipe gains Avatars by
    changing the distiller's ``type``. Each iteration, the Avatars of a
    teacher record are generated once, from the one teacher forward, and
    shared by every loss that reads that record. What AKD needs of each base
    loss is in :data:`~mmakd.models.losses.base_losses.BASE_LOSSES`.

    Run-time policy is in hooks (``custom_hooks`` of the AKD configs):
    ``DistillLossCheckHook`` stops at NaN/inf in the wrapped losses and
    their inputs; ``AvatarStatsHook`` limits the statistics to the logged
    iterations.

    Args:
        avatar_generator (dict): Config of the :class:`AvatarGenerator`. A
            dict without ``type`` updates the defaults, e.g.
            ``dict(num_avatars=2)``. Defaults to
            ``dict(type='AvatarGenerator')`` (1 Avatar, element dropout 0.1).
        uncertainty (str): Uncertainty factor of the wrapped losses:
            ``'paper'``, ``'official'``, ``'release'`` or ``'none'``.
            Defaults to ``'paper'``. With ``'release'``, a base loss whose
            table entry has a ``prepare`` (MGD) gets it on its student
            connector: MGD's student is standardised inside its
            ``MGDConnector``, before masking and generation.
        uncertainty_eps (float): Relative floor of ``sigma^2`` for
            ``'paper'``. Defaults to 1e-2.
        sigma (str): ``'sampled'`` (sigma from the drawn Avatars) or
            ``'expected'`` (from the perturbation's closed-form
            ``E_i[(A_i - T)^2]``, falling back to ``'sampled'`` where there
            is none); ``'paper'`` only. Defaults to ``'sampled'``.
        exclude_losses (Iterable[str]): Names in ``distill_losses`` to leave
            unwrapped (they see the vanilla teacher). Defaults to ().
        log_stats (bool): Log each wrapped loss's mean sigma and Avatar
            spread as ``akd_sigma.<tag>`` / ``akd_spread.<tag>`` (see
            :meth:`stat_key`), and ``akd_sigma_<i>.<tag>`` per level of a
            multi-level record; not added to the total loss. Computed on
            the iterations ``AvatarStatsHook`` says are logged, every
            iteration without it. Defaults to True.
        **kwargs: Everything ``ConfigurableDistiller`` accepts.

    Note:
        ``ConfigurableDistiller.__init__`` runs first, on exactly the
        arguments it would get on its own (so a malformed
        ``loss_forward_mappings`` gets its own error); then this class
        checks its arguments and wraps the built losses.

    Note:
        The Avatars draw from random streams of their own
        (:mod:`~mmakd.models.avatars.avatar_random`), never from torch's
        global generator: at iteration k the draws depend only on the run's
        seed, the rank, k and the generator's place in this distiller.
        Nothing about them is in the state dict or the checkpoint.
    """

    def __init__(self,
                 avatar_generator: Optional[Dict] = None,
                 uncertainty: str = 'paper',
                 uncertainty_eps: float = 1e-2,
                 sigma: str = 'sampled',
                 exclude_losses: Union[str, Iterable[str], None] = (),
                 log_stats: bool = True,
                 distill_losses: Optional[Dict[str, Dict]] = None,
                 loss_forward_mappings: Optional[Dict[str, Dict]] = None,
                 **kwargs) -> None:
        if 'check_finite_interval' in kwargs:
            raise TypeError(
                'AvatarDistiller: `check_finite_interval` is now the '
                '`interval` of DistillLossCheckHook; write '
                "custom_hooks=[dict(type='DistillLossCheckHook', interval="
                f"{kwargs['check_finite_interval']!r})] instead")
        super().__init__(
            distill_losses=distill_losses,
            loss_forward_mappings=loss_forward_mappings,
            **kwargs)
        owner = 'AvatarDistiller'
        check_uncertainty(owner, uncertainty)
        check_sigma(owner, sigma, uncertainty)
        eps = check_eps(owner, 'uncertainty_eps', uncertainty_eps)
        exclude = check_loss_names(owner, 'exclude_losses', exclude_losses,
                                   self.distill_losses)
        gen_cfg = generator_cfg(owner, avatar_generator)
        self.log_stats = check_bool(owner, 'log_stats', log_stats)
        self.avatar_generator = MODELS.build(gen_cfg)
        self._wrap_losses(distill_losses or {}, exclude,
                          dict(uncertainty=uncertainty, eps=eps, sigma=sigma))
        self._check_teacher_connectors()
        self._prepare_release_losses()
        self._name_streams()
        self._stat_tags = stat_tags(name for name, _ in self.wrapped_losses())
        self._calls = 0  # the iteration when no runner runs

    def _wrap_losses(self, cfgs: Dict[str, Any], exclude: set,
                     options: Dict[str, Any]) -> None:
        """Wraps each built teacher-reading loss in the distill losses.

        Explicit wrappers get the distiller's ``uncertainty``, ``eps`` and
        ``sigma`` where their config does not set them. Wrappers made here
        have no generator of their own: this distiller supplies the Avatars.
        """
        for name, loss in list(self.distill_losses.items()):
            cfg = cfgs.get(name, {})
            if isinstance(loss, UncertaintyAwareKDLoss):
                loss.set_options(**{
                    key: None if key in cfg else value
                    for key, value in options.items()
                })
                continue
            mapping = self.loss_forward_mappings.get(name, {})
            reads_teacher = any(
                isinstance(record, dict)
                and record.get('from_student') is False
                for record in mapping.values())
            if name in exclude or not reads_teacher:
                continue
            student_key, teacher_key = resolve_keys(
                'AvatarDistiller', name, loss, mapping=mapping)
            self.distill_losses[name] = UncertaintyAwareKDLoss(
                base_loss=loss,
                student_key=student_key,
                teacher_key=teacher_key,
                **options)

    def _record(self, name: str, key: str) -> Dict:
        """The record config of argument ``key`` of loss ``name``."""
        record = self.loss_forward_mappings.get(name, {}).get(key)
        return record if isinstance(record, dict) else {}

    def _check_teacher_connectors(self) -> None:
        """Rejects a trainable connector on a record that becomes Avatars.

        Avatars are built from the detached teacher record, after its
        connector: that connector would silently stop learning.
        """
        for name, loss in self.wrapped_losses():
            record = self._record(name, loss.teacher_key)
            connector = record.get('connector')
            if connector is not None and any(
                    p.requires_grad
                    for p in self.connectors[connector].parameters()):
                raise ValueError(
                    f'AvatarDistiller: loss {name!r} reads the teacher record '
                    f'{record.get("recorder")!r} through the trainable '
                    f'connector {connector!r}; its Avatars are built from '
                    'the detached teacher, so the connector would get no '
                    'gradient. Put the connector on the student side, or '
                    f"list {name!r} in `exclude_losses`")

    def _prepare_release_losses(self) -> None:
        """Runs each ``uncertainty='release'`` loss's table ``prepare`` on
        its student connector, which no other loss may then read."""
        readers: Dict[str, List[str]] = {}
        for name, mapping in self.loss_forward_mappings.items():
            for record in mapping.values():
                if isinstance(record, dict) and record.get('connector'):
                    readers.setdefault(record['connector'], []).append(name)
        for name, loss in self.wrapped_losses():
            prepare = prepare_of(loss.base_loss)
            if loss.uncertainty != 'release' or prepare is None:
                continue
            connector = self._record(name, loss.student_key).get('connector')
            prepare(name, loss.student_key, connector,
                    self.connectors[connector] if connector else None)
            others = [n for n in readers[connector] if n != name]
            if others:
                raise ValueError(
                    f'AvatarDistiller: the MGDConnector {connector!r} of '
                    f"loss {name!r} (uncertainty='release') standardises "
                    f'its input, but losses {others} read it too; give '
                    'them a connector of their own')
            loss.student_standardised_upstream = True

    def prepare_from_teacher(self, model: nn.Module) -> None:
        """Initialises the teacher recorders; rejects, at build time, a
        spatial perturbation on the output of an ``nn.Flatten``."""
        super().prepare_from_teacher(model)
        modules = dict(model.named_modules())
        for name, loss in self.wrapped_losses():
            record = self._record(name, loss.teacher_key)
            generator = self.generator_of(name)
            if not record or not generator.needs_spatial or \
                    record.get('connector'):
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
        ``distiller._extra_state``."""
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
        for generator in {id(g): g for g in self._generators()}.values():
            generator.manual_seed(seed)
        return self

    def _generators(self) -> List[nn.Module]:
        return [self.avatar_generator] + [
            loss.avatar_generator for _, loss in self.wrapped_losses()
            if loss.avatar_generator is not None
        ]

    def _name_streams(self) -> None:
        """Names each generator's random stream after its place here, so
        that two generators never draw the same masks."""
        self.avatar_generator.random.stream = 'avatar_generator'
        for name, loss in self.wrapped_losses():
            if loss.avatar_generator is not None:
                loss.avatar_generator.random.stream = \
                    f'distill_losses.{name}.avatar_generator'

    def stat_key(self, loss_name: str, stat: str) -> str:
        """The log key of statistic ``stat`` (``'sigma'``, ``'spread'``,
        ``'sigma_0'``, ...) of wrapped loss ``loss_name``: ``akd_<stat>.<tag>``
        (see :func:`~.stat_keys.stat_tags`)."""
        return f'akd_{stat}.{self._stat_tags[loss_name]}'

    def wrapped_losses(self) -> List[Tuple[str, UncertaintyAwareKDLoss]]:
        """(name, wrapper) of each wrapped loss."""
        return [(name, loss) for name, loss in self.distill_losses.items()
                if isinstance(loss, UncertaintyAwareKDLoss)]

    def generator_of(self, name: str) -> nn.Module:
        """The generator that makes the Avatars of wrapped loss ``name``:
        the loss's own, else this distiller's."""
        return self.distill_losses[name].avatar_generator or \
            self.avatar_generator

    def compute_distill_losses(self) -> Dict[str, torch.Tensor]:
        """Computes every distill loss, wrapped ones on shared Avatars.

        Raises:
            ValueError: A spatial perturbation meets a record without
                spatial dimensions.
        """
        iteration = self._iteration()
        with_stats = self._stats_wanted()
        losses, avatar_cache = {}, {}
        for loss_name, forward_mappings in self.loss_forward_mappings.items():
            forward_kwargs = {
                key: self.get_record(**record)
                for key, record in forward_mappings.items()
            }
            loss_module = self.distill_losses[loss_name]
            if not isinstance(loss_module, UncertaintyAwareKDLoss):
                losses[loss_name] = loss_module(**forward_kwargs)
                continue
            generator = self.generator_of(loss_name)
            record = forward_mappings[loss_module.teacher_key]
            teacher = forward_kwargs[loss_module.teacher_key]
            cache_key = (id(generator), tuple(sorted(record.items())))
            if cache_key not in avatar_cache:
                avatar_cache[cache_key] = self._avatars(
                    generator, loss_name, record, teacher, iteration)
            loss, stats = loss_module.forward_avatars(
                forward_kwargs, avatar_cache[cache_key], with_stats,
                perturbations=generator.perturbations)
            losses[loss_name] = loss
            losses.update({
                self.stat_key(loss_name, stat): value
                for stat, value in stats.items()
            })
        return losses

    @staticmethod
    def _avatars(generator: nn.Module, loss_name: str, record: Dict,
                 teacher: Any, iteration: int) -> Any:
        """The Avatars of one teacher record; a perturbation's complaint
        about the record's shape names the loss and the record."""
        try:
            return generator(teacher, step=iteration)
        except NoSpatialDimensions:
            levels = teacher if isinstance(teacher, (list, tuple)) else [
                teacher]
            shapes = ', '.join(str(tuple(t.shape)) for t in levels)
            raise ValueError(
                f'AvatarDistiller: loss {loss_name!r} makes Avatars of the '
                f'teacher record {record.get("recorder")!r} of shape '
                f'{shapes}, which has no spatial dimensions, but '
                f'`avatar_generator` has {generator.perturbations}, which '
                'masks spatial positions (B, C, H, W, ...); use '
                'ElementDropout, ChannelDropout or GaussianNoise for this '
                'loss') from None

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
