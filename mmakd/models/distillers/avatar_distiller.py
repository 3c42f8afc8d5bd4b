"""AvatarDistiller: MMRazor's ConfigurableDistiller with Avatars."""
from typing import Dict, Iterable, Optional, Tuple

import torch
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.registry import MODELS

from ..losses.uncertainty_aware_kd_loss import (KNOWN_KEY_PAIRS,
                                                UncertaintyAwareKDLoss,
                                                check_uncertainty,
                                                is_wrapper_cfg)


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
            ``'paper'``, ``'official'`` or ``'none'``. Defaults to ``'paper'``.
        uncertainty_eps (float): Relative floor of ``sigma^2`` for
            ``'paper'``. Defaults to 1e-2.
        exclude_losses (Iterable[str]): Names in ``distill_losses`` to leave
            unwrapped (they see the vanilla teacher). Defaults to ().
        log_stats (bool): Log each wrapped loss's mean sigma and Avatar
            spread as ``akd_sigma.<name>`` / ``akd_spread.<name>``, where
            ``<name>`` is the loss name without ``loss_``, and
            ``akd_sigma_<i>.<name>`` per level of a multi-level record. Keys
            without "loss" are logged, not added to the total loss. Defaults
            to True.
        **kwargs: Everything ``ConfigurableDistiller`` accepts.
    """

    def __init__(self,
                 avatar_generator: Optional[Dict] = None,
                 uncertainty: str = 'paper',
                 uncertainty_eps: float = 1e-2,
                 exclude_losses: Iterable[str] = (),
                 log_stats: bool = True,
                 distill_losses: Optional[Dict[str, Dict]] = None,
                 loss_forward_mappings: Optional[Dict[str, Dict]] = None,
                 **kwargs) -> None:
        check_uncertainty('AvatarDistiller', uncertainty)
        exclude_losses = set(exclude_losses)
        unknown = exclude_losses - set(distill_losses or {})
        if unknown:
            raise KeyError(f'AvatarDistiller: `exclude_losses` names '
                           f'{sorted(unknown)}, which are not in '
                           f'`distill_losses` ({sorted(distill_losses or {})})')
        generator_cfg = dict(type='AvatarGenerator')
        generator_cfg.update(avatar_generator or {})
        wrap_options = dict(
            uncertainty=uncertainty,
            eps=uncertainty_eps,
            avatar_generator=generator_cfg)
        # Explicit wrappers that bring a generator of their own keep it.
        own_generators = {
            name
            for name, cfg in (distill_losses or {}).items()
            if is_wrapper_cfg(cfg) and 'avatar_generator' in cfg
        }
        super().__init__(
            distill_losses=self._wrap_losses(distill_losses or {},
                                             loss_forward_mappings or {},
                                             exclude_losses, wrap_options),
            loss_forward_mappings=loss_forward_mappings,
            **kwargs)
        self.avatar_generator = MODELS.build(generator_cfg)
        self.log_stats = log_stats
        self._own_generators = own_generators
        self._check_teacher_connectors()

    def _check_teacher_connectors(self) -> None:
        """Rejects a trainable connector on a record that becomes Avatars.

        Avatars are built from the detached teacher record, after its
        connector: that connector would silently stop learning.
        """
        for name, loss in self.distill_losses.items():
            if not isinstance(loss, UncertaintyAwareKDLoss):
                continue
            record = self.loss_forward_mappings[name][loss.teacher_key]
            connector = record.get('connector')
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

    @classmethod
    def _wrap_losses(cls, losses: Dict[str, Dict], mappings: Dict[str, Dict],
                     exclude: set, options: Dict) -> Dict[str, Dict]:
        """Configs of ``losses`` with each teacher-reading loss wrapped."""
        wrapped = {}
        for name, cfg in losses.items():
            teacher_keys = [
                key for key, record in mappings.get(name, {}).items()
                if isinstance(record, dict)
                and record.get('from_student') is False
            ]
            if name in exclude or not teacher_keys:
                wrapped[name] = cfg
            elif is_wrapper_cfg(cfg):
                wrapped[name] = {**options, **cfg}
            else:
                student_key, teacher_key = cls._keys_of(
                    name, teacher_keys, mappings[name])
                wrapped[name] = dict(
                    type='UncertaintyAwareKDLoss',
                    base_loss=cfg,
                    student_key=student_key,
                    teacher_key=teacher_key,
                    **options)
        return wrapped

    @staticmethod
    def _keys_of(name: str, teacher_keys: list,
                 mapping: Dict) -> Tuple[str, str]:
        """(student, teacher) arguments of loss ``name``, from its mapping."""
        if len(teacher_keys) > 1:
            raise ValueError(
                f'AvatarDistiller: loss {name!r} reads {len(teacher_keys)} '
                f'teacher records ({teacher_keys}); write it as '
                "dict(type='UncertaintyAwareKDLoss', base_loss=..., "
                'teacher_key=..., student_key=...) to say which one becomes '
                'the Avatars, or list it in `exclude_losses`')
        teacher_key = teacher_keys[0]
        student_keys = [
            key for key, record in mapping.items()
            if isinstance(record, dict) and record.get('from_student')
        ]
        paired = [s for s, t in KNOWN_KEY_PAIRS if t == teacher_key]
        candidates = [k for k in student_keys if k in paired] or student_keys
        if len(candidates) != 1:
            raise ValueError(
                f'AvatarDistiller: cannot tell which student input of loss '
                f'{name!r} ({student_keys}) pairs with its teacher input '
                f'{teacher_key!r}; write it as an explicit '
                "dict(type='UncertaintyAwareKDLoss', student_key=..., ...)")
        return candidates[0], teacher_key

    def compute_distill_losses(self) -> Dict[str, torch.Tensor]:
        """Computes every distill loss, wrapped ones on shared Avatars."""
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
            generator = loss_module.avatar_generator \
                if loss_name in self._own_generators else self.avatar_generator
            record = forward_mappings[loss_module.teacher_key]
            cache_key = (id(generator), tuple(sorted(record.items())))
            if cache_key not in avatar_cache:
                avatar_cache[cache_key] = generator(
                    forward_kwargs[loss_module.teacher_key])
            loss, stats = loss_module.forward_avatars(
                forward_kwargs, avatar_cache[cache_key], self.log_stats)
            losses[loss_name] = loss
            losses.update(_stat_items(loss_name, stats))
        return losses


def _stat_items(loss_name: str,
                stats: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Log keys for ``stats``: free of 'loss', so mmengine does not sum them."""
    tag = loss_name.replace('loss_', '').replace('loss', '') or 'distill'
    return {f'akd_{stat}.{tag}': value for stat, value in stats.items()}
