"""UncertaintyAwareKDLoss: AKD around any registered distillation loss."""
import functools
import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmrazor.registry import MODELS
from torch import nn

from ...utils.precision import upcast
from ..avatars.avatar_generator import Feature, generator_cfg
from ..avatars.avatar_random import runner_iteration
from ..avatars.perturbations import expected_sq_diff
from ..checks import check_eps, check_sigma, check_uncertainty
from .base_losses import (RELEASE_FORMS, release_form, repeat_along_batch,
                          resolve_keys, stacking_of)
from .uncertainty import (sigma_of, spread, standardise, uncertainty_map,
                          values_per_channel)


class _BaseLossSignature:
    """Makes ``loss.forward`` report the base loss's signature.

    MMRazor's ``ConfigurableDistiller`` checks ``loss_forward_mappings``
    against ``inspect.signature(loss.forward)``; the wrapper accepts exactly
    what its base loss accepts, so that is the signature it shows.
    """

    def __get__(self, obj, objtype=None):
        if obj is None:
            return objtype._forward
        forward = functools.partial(objtype._forward, obj)
        forward.__signature__ = obj.base_signature
        return forward


@MODELS.register_module()
class UncertaintyAwareKDLoss(BaseModule):
    """Avatar Knowledge Distillation around any distillation loss (AKD).

    ``L_AKD = E_i[ L_distill(S', A'_i) ]`` where ``A_i`` are the Avatars of
    the teacher feature ``T`` and ``(S', A'_i)`` the student and Avatar after
    the uncertainty-aware factor of ``uncertainty``:

    - ``'paper'`` (default): ``S' = S / sigma``, ``A'_i = A_i / sigma`` with
      ``sigma^2 = E_x E_i[(A_i - T)^2]`` per element of a sample (the
      expectation over the batch and the Avatars; no gradient; floored at
      ``eps`` times its mean, see :func:`~.uncertainty.sigma_of`);
    - ``'official'``: the authors' released code: student and each Avatar
      standardised per channel with their own batch statistics (a BatchNorm
      without parameters), for any number of channels;
    - ``'release'``: exactly what the release does per base loss (the same
      standardisation, applied where the release applies it): for
      ``ChannelWiseDivergence`` the student only, the Avatars stay raw
      (``akd_cwd.py``); for ``MGDLoss`` the student *before* MGD's masking
      and generation, which in MMRazor 1.x is the student's
      ``MGDConnector``, so ``AvatarDistiller`` standardises there and this
      loss standardises the Avatars only (``akd_mgd.py``; the loss called
      outside ``AvatarDistiller`` raises); for every other loss the student
      and each Avatar, as ``'official'`` (``akd_maskd.py``);
    - ``'none'``: ``S' = S``, ``A'_i = A_i``: Avatars only, for ablation.

    Every other input of the base loss (e.g. ground truth) passes through
    unchanged, and ``loss.forward`` has the base loss's signature, so the
    wrapper drops into any ``loss_forward_mappings``. Called on its own it
    makes its Avatars with ``avatar_generator``; ``AvatarDistiller`` instead
    calls :meth:`forward_avatars` with Avatars shared between losses.

    Args:
        base_loss (dict): Config of a distillation loss registered in
            MMRazor's ``MODELS``: one of the table of base losses
            (:data:`~.base_losses.BASE_LOSSES`: ``ChannelWiseDivergence``,
            ``MGDLoss``, ``PKDLoss``, ``L2Loss``, ``KLDivergence``,
            ``MMAKDFGDLoss``, ``MasKDLoss``, ...), or any other with
            ``student_key`` and ``teacher_key``.
        uncertainty (str): ``'paper'``, ``'official'``, ``'release'`` or
            ``'none'``. Defaults to ``'paper'``.
        student_key (str, optional): Argument of the base loss's forward that
            takes the student. Inferred from the common names
            (``preds_S``, ``s_feature``, ...) when None.
        teacher_key (str, optional): Argument that takes the teacher, which
            becomes the Avatars. Inferred like ``student_key`` when None.
        avatar_generator (dict, optional): Config of an
            :class:`AvatarGenerator` of this loss's own (a dict without
            ``type`` updates the default: one Avatar, element dropout 0.1).
            None: no generator of its own; the caller supplies the Avatars
            (``AvatarDistiller`` its shared generator's), and a direct call
            draws them with the default generator. Defaults to None.
        eps (float): Relative floor of ``sigma^2`` for ``'paper'``; a finite
            number > 0. Defaults to 1e-2.
        sigma (str): How ``'paper'`` gets ``sigma^2 = E_x[U]``:
            ``'sampled'`` from the drawn Avatars, ``U = E_i[(A_i - T)^2]``
            over the N Avatars; ``'expected'`` from the closed form of that
            expectation over infinitely many Avatars
            (:func:`~mmakd.models.avatars.perturbations.expected_sq_diff`:
            dropout ``T^2 p / (1 - p)``, multiplicative noise
            ``T^2 std^2``, ...), which removes the noise of the mask draw
            from sigma. Where the perturbations have no closed form
            (additive noise composed with others) ``'expected'`` falls back
            to ``'sampled'`` and logs it once. Only ``'paper'`` uses it.
            Defaults to ``'sampled'``.
        init_cfg (dict, optional): mmengine initialisation config.

    Note:
        Statistics, the scaled student and Avatars, and so the base loss's
        inputs, are float32 when the features are fp16 or bf16 (autocast):
        ``S / sigma`` or a batch variance of features of magnitude 1e3
        overflows fp16. Float32 features are used as they are.

    Note:
        A base-KD checkpoint loads into this wrapper as it is: the base
        loss's parameters saved under ``<prefix>.`` (e.g. FGD's context
        blocks, ``distill_losses.loss_fgd.conv_mask_s.weight``) are read as
        ``<prefix>.base_loss.``, also with ``strict=True``.
    """

    forward = _BaseLossSignature()

    def __init__(self,
                 base_loss: Dict,
                 uncertainty: str = 'paper',
                 student_key: Optional[str] = None,
                 teacher_key: Optional[str] = None,
                 avatar_generator: Optional[Dict] = None,
                 eps: float = 1e-2,
                 sigma: str = 'sampled',
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg)
        check_sigma('UncertaintyAwareKDLoss', sigma, uncertainty)
        self.set_options(uncertainty=uncertainty, eps=eps, sigma=sigma)
        #: Set by ``AvatarDistiller`` once the student's ``MGDConnector``
        #: standardises (``uncertainty='release'`` with ``MGDLoss``).
        self.student_standardised_upstream = False
        self._fallback_logged = False
        self.base_loss = self._build_base_loss(base_loss)
        self.base_signature = inspect.signature(self.base_loss.forward)
        self.student_key, self.teacher_key = resolve_keys(
            'UncertaintyAwareKDLoss',
            type(self.base_loss).__name__, self.base_loss, student_key,
            teacher_key)
        self.avatar_generator = None if avatar_generator is None else \
            MODELS.build(
                generator_cfg('UncertaintyAwareKDLoss', avatar_generator))

    def set_options(self,
                    uncertainty: Optional[str] = None,
                    eps: Optional[float] = None,
                    sigma: Optional[str] = None) -> None:
        """Checks and sets the uncertainty mode, ``eps`` and ``sigma`` (None:
        unchanged).

        ``AvatarDistiller`` gives its own options to an explicit wrapper that
        does not set them.

        Args:
            uncertainty (str, optional): ``'paper'``, ``'official'``,
                ``'release'`` or ``'none'``.
            eps (float, optional): Relative floor of ``sigma^2``; > 0.
            sigma (str, optional): ``'sampled'`` or ``'expected'``.
        """
        if sigma is not None:
            check_sigma('UncertaintyAwareKDLoss', sigma)
            self.sigma = sigma
        if uncertainty is not None:
            check_uncertainty('UncertaintyAwareKDLoss', uncertainty)
            self.uncertainty = uncertainty
        if eps is not None:
            self.eps = check_eps('UncertaintyAwareKDLoss',
                                 "`eps` (the distiller's `uncertainty_eps`)",
                                 eps)

    @staticmethod
    def _build_base_loss(cfg: Union[Dict, nn.Module]) -> nn.Module:
        if isinstance(cfg, nn.Module):
            return cfg
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise TypeError('UncertaintyAwareKDLoss: `base_loss` must be a '
                            "loss config dict with a 'type', but got "
                            f'{cfg!r}')
        loss_type = cfg['type']
        if isinstance(loss_type, str) and MODELS.get(loss_type) is None:
            raise KeyError(
                f'UncertaintyAwareKDLoss: `base_loss` type {loss_type!r} is '
                "not registered in MMRazor's MODELS registry; expected a "
                "distillation loss such as 'ChannelWiseDivergence', "
                "'MGDLoss', 'PKDLoss' or 'FGDLoss' (import the module that "
                'registers your own loss via custom_imports)')
        loss_cls = MODELS.get(loss_type) if isinstance(loss_type,
                                                       str) else loss_type
        if loss_cls is UncertaintyAwareKDLoss:
            raise TypeError('UncertaintyAwareKDLoss: `base_loss` is itself '
                            'an UncertaintyAwareKDLoss; wrap the base loss '
                            'once')
        return MODELS.build(cfg)

    def _forward(self, *args, **kwargs) -> torch.Tensor:
        """Makes Avatars of the teacher input, then :meth:`forward_avatars`."""
        bound = self.base_signature.bind(*args, **kwargs)
        teacher = bound.arguments[self.teacher_key]
        generator = self.avatar_generator or default_generator()
        avatars = generator(teacher, step=runner_iteration(self.training))
        loss, _ = self.forward_avatars(
            bound, avatars, with_stats=False,
            perturbations=generator.perturbations)
        return loss

    def forward_avatars(
        self,
        inputs: Union[inspect.BoundArguments, Dict],
        avatars: Feature,
        with_stats: bool = True,
        perturbations: Optional[Sequence[Any]] = None
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """The AKD loss for given Avatars of the teacher input.

        Args:
            inputs (BoundArguments | dict): The base loss's inputs, by
                argument name, with the vanilla teacher at ``teacher_key``.
            avatars (Tensor | Sequence[Tensor]): Avatars of the teacher input,
                ``(N, B, ...)`` per level, as made by ``AvatarGenerator``.
            with_stats (bool): Whether to compute the logged statistics.
                Defaults to True.
            perturbations (Sequence, optional): The perturbations that made
                ``avatars``, for ``sigma='expected'``. None: those of this
                loss's own ``avatar_generator``. Defaults to None.

        Returns:
            tuple[Tensor, dict]: The loss, and per level the mean ``sigma``
            (``'paper'``) and the RMS Avatar-teacher ``spread``, detached.
        """
        if not isinstance(inputs, inspect.BoundArguments):
            inputs = self.base_signature.bind(**inputs)
        student = inputs.arguments[self.student_key]
        teacher = inputs.arguments[self.teacher_key]
        s_levels, t_levels, a_levels = (_as_levels(x, n) for x, n in (
            (student, self.student_key), (teacher, self.teacher_key),
            (avatars, 'avatars')))
        if not len(s_levels) == len(t_levels) == len(a_levels):
            raise ValueError(
                f'{self._name()}: `{self.student_key}` has {len(s_levels)} '
                f'levels, `{self.teacher_key}` {len(t_levels)} and its '
                f'Avatars {len(a_levels)}; they must match')

        stats: Dict[str, torch.Tensor] = {}
        scaled = [
            self._scale_level(s, t, a, stats, level if len(t_levels) > 1
                              else None, with_stats, perturbations)
            for level, (s, t, a) in enumerate(zip(s_levels, t_levels,
                                                  a_levels))
        ]
        num_avatars = a_levels[0].shape[0]
        stacking = stacking_of(self.base_loss) if num_avatars > 1 else None
        if stacking is not None:
            # E_i[L(S', A'_i)] as one call on the Avatars stacked along the
            # batch: the table's stacking entries are batch means.
            students = [
                repeat_along_batch(s, num_avatars)
                if stacking == 'repeat' else s for s, _ in scaled
            ]
            avatars_in = [
                a.flatten(0, 1) if stacking == 'repeat' else a
                for _, a in scaled
            ]
            loss = self._call_base(inputs, students, avatars_in, s_levels,
                                   t_levels)
            return (loss if stacking == 'repeat' else loss / num_avatars,
                    stats)
        loss = 0
        for i in range(num_avatars):
            loss = loss + self._call_base(inputs, [s for s, _ in scaled],
                                          [a[i] for _, a in scaled],
                                          s_levels, t_levels)
        return loss / num_avatars, stats

    def _call_base(self, inputs: inspect.BoundArguments,
                   students: List[torch.Tensor], avatars: List[torch.Tensor],
                   s_levels: List[torch.Tensor],
                   t_levels: List[torch.Tensor]) -> torch.Tensor:
        """The base loss on ``students`` and ``avatars`` (per level) in place
        of the student and teacher inputs; a named error where a failure
        comes from student and teacher shapes that differ."""
        student = inputs.arguments[self.student_key]
        teacher = inputs.arguments[self.teacher_key]
        inputs.arguments[self.student_key] = _like(student, students)
        inputs.arguments[self.teacher_key] = _like(teacher, avatars)
        try:
            return self.base_loss(*inputs.args, **inputs.kwargs)
        except (RuntimeError, AssertionError, ValueError, IndexError) as err:
            mismatch = self._shape_mismatch(s_levels, t_levels)
            if mismatch is None:
                raise
            raise ValueError(
                f'{self._name()} with uncertainty={self.uncertainty!r} '
                f'failed on inputs whose shapes differ: {mismatch}. '
                f'The base loss raised {type(err).__name__}: {err}. Map '
                'the student through a connector to the teacher\'s '
                'shape') from err
        finally:
            inputs.arguments[self.student_key] = student
            inputs.arguments[self.teacher_key] = teacher

    def _shape_mismatch(self, s_levels: List[torch.Tensor],
                        t_levels: List[torch.Tensor]) -> Optional[str]:
        """The student and teacher shapes where they differ, else None."""
        parts = []
        for level, (s, t) in enumerate(zip(s_levels, t_levels)):
            if s.shape != t.shape:
                where = f' (level {level})' if len(t_levels) > 1 else ''
                parts.append(f'`{self.student_key}`{where} has shape '
                             f'{tuple(s.shape)} and `{self.teacher_key}`'
                             f'{where} {tuple(t.shape)}')
        return '; '.join(parts) or None

    def _scale_level(self, student: torch.Tensor, teacher: torch.Tensor,
                     avatars: torch.Tensor, stats: Dict[str, torch.Tensor],
                     level: Optional[int],
                     with_stats: bool,
                     perturbations: Optional[Sequence[Any]] = None
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The uncertainty-aware factor on one level; fills ``stats``."""
        if avatars.shape[1:] != teacher.shape:
            raise ValueError(
                f'{self._name()}: Avatars of shape {tuple(avatars.shape)} do '
                f'not stack Avatars of the teacher `{self.teacher_key}` of '
                f'shape {tuple(teacher.shape)}; expected (N, '
                f'{", ".join(map(str, teacher.shape))})')
        suffix = '' if level is None else f'_{level}'
        drawn = uncertainty_map(teacher, avatars) if with_stats else None
        if with_stats:
            stats[f'spread{suffix}'] = spread(drawn)
        if self.uncertainty == 'none':
            return upcast(student), upcast(avatars)
        if self.uncertainty == 'release':
            return self._release_level(student, avatars)
        if self.uncertainty == 'official':
            for name, x, batch_dim in ((self.student_key, student, 0),
                                       ('Avatars', avatars, 1)):
                if x.dim() < batch_dim + 2 or values_per_channel(
                        x.shape, batch_dim) < 2:
                    raise ValueError(
                        f"{self._name()}: uncertainty='official' "
                        'standardises each channel with its batch '
                        'statistics (a BatchNorm in training mode), which '
                        'needs more than 1 value per channel, but '
                        f'`{name}` has shape {tuple(x.shape)}'
                        f'{" (N, B, C, ...)" if batch_dim else ""}: its '
                        'standardisation would be 0, and so would the loss '
                        "and its gradient. Use 'paper' or 'none' for this "
                        'loss, or a batch of more than one sample')
            return standardise(student), standardise(avatars, batch_dim=1)
        if student.shape != teacher.shape:
            raise ValueError(
                f"{self._name()}: uncertainty='paper' divides student and "
                'Avatars by the same sigma, so their shapes must match, but '
                f'`{self.student_key}` has shape {tuple(student.shape)} and '
                f'`{self.teacher_key}` {tuple(teacher.shape)}; map the '
                'student through a connector to the teacher\'s shape')
        sigma = self.paper_sigma(teacher, avatars, perturbations, drawn)
        if with_stats:
            stats[f'sigma{suffix}'] = sigma.mean()
        return student / sigma, avatars / sigma

    def uncertainty_map(self,
                        teacher: torch.Tensor,
                        avatars: torch.Tensor,
                        perturbations: Optional[Sequence[Any]] = None,
                        drawn: Optional[torch.Tensor] = None
                        ) -> torch.Tensor:
        """``U = E_i[(A_i - T)^2]`` of one level as ``'paper'`` uses it: in
        closed form with ``sigma='expected'`` (where the perturbations have
        one), else from the drawn Avatars.

        Args:
            teacher (Tensor): The vanilla teacher ``T``, ``(B, ...)``.
            avatars (Tensor): Its Avatars, ``(N, B, ...)``.
            perturbations (Sequence, optional): The perturbations that made
                ``avatars``, for ``'expected'``. None: this loss's own
                generator's, else the default generator's.
            drawn (Tensor, optional): :func:`~.uncertainty.uncertainty_map`
                of these Avatars, when already computed.

        Returns:
            Tensor: ``U``, ``(B, ...)``, float32 (float64).
        """
        if self.sigma == 'expected':
            expected = self._expected_sq_diff(teacher, perturbations)
            if expected is not None:
                return expected
        return uncertainty_map(teacher, avatars) if drawn is None else drawn

    def paper_sigma(self,
                    teacher: torch.Tensor,
                    avatars: torch.Tensor,
                    perturbations: Optional[Sequence[Any]] = None,
                    drawn: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``sigma = sqrt(E_x[U] + eps mean E_x[U])`` of one level: what
        ``'paper'`` divides student and Avatars by (see
        :meth:`uncertainty_map` for the arguments).

        Returns:
            Tensor: sigma, ``(1, ...)``.
        """
        return sigma_of(
            self.uncertainty_map(teacher, avatars, perturbations, drawn),
            self.eps)

    def _expected_sq_diff(
            self, teacher: torch.Tensor,
            perturbations: Optional[Sequence[Any]]) -> Optional[torch.Tensor]:
        """Closed-form ``E_i[(A_i - T)^2]`` for ``sigma='expected'``.

        None (and one log line, the first time) where the perturbations
        have no closed form: sigma then comes from the drawn Avatars.
        """
        if perturbations is None:
            perturbations = (self.avatar_generator
                             or default_generator()).perturbations
        expected = expected_sq_diff(perturbations, teacher)
        if expected is None and not self._fallback_logged:
            self._fallback_logged = True
            print_log(
                f"{self._name()}: sigma='expected' has no closed form for "
                f'the perturbations {list(perturbations)}; sigma comes from '
                "the drawn Avatars, as with sigma='sampled'",
                logger='current',
                level=30)
        return expected

    def _release_level(
            self, student: torch.Tensor,
            avatars: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``uncertainty='release'`` on one level: see :data:`RELEASE_FORMS`.
        """
        form = release_form(self.base_loss)
        if form == 'before_generation' and \
                not self.student_standardised_upstream:
            raise ValueError(
                f"{self._name()}: uncertainty='release' with MGD "
                'standardises the student before MGD\'s masking and '
                "generation block, the student's MGDConnector, which only "
                'AvatarDistiller can reach; use this loss in an '
                "AvatarDistiller with the student's input through an "
                "MGDConnector, or uncertainty='official'")
        inputs = ((self.student_key, student, 0, form != 'before_generation'),
                  ('Avatars', avatars, 1, form != 'student'))
        for name, x, batch_dim, standardised in inputs:
            if standardised and (x.dim() < batch_dim + 2 or
                                 values_per_channel(x.shape, batch_dim) < 2):
                raise ValueError(
                    f"{self._name()}: uncertainty='release' standardises "
                    f'{RELEASE_FORMS[form]} per channel with batch '
                    'statistics (a BatchNorm in training mode), which needs '
                    f'more than 1 value per channel, but `{name}` has shape '
                    f'{tuple(x.shape)}; use \'paper\' or \'none\' for this '
                    'loss, or a batch of more than one sample')
        return tuple(
            standardise(x, batch_dim) if standardised else upcast(x)
            for _, x, batch_dim, standardised in inputs)

    def _load_from_state_dict(self, state_dict: Dict, prefix: str, *args,
                              **kwargs) -> None:
        """As ``nn.Module``'s, after renaming base-KD keys.

        A checkpoint of the recipe without Avatars holds this loss's
        parameters as ``<prefix><name>``; they are moved to
        ``<prefix>base_loss.<name>`` where this wrapper expects them and
        the checkpoint has no such key.
        """
        inner = prefix + 'base_loss.'
        for key in [k for k in state_dict if k.startswith(prefix)]:
            if key.startswith(inner):
                continue
            renamed = inner + key[len(prefix):]
            if renamed not in state_dict:
                state_dict[renamed] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _name(self) -> str:
        return f'UncertaintyAwareKDLoss({type(self.base_loss).__name__})'

    def extra_repr(self) -> str:
        return f'uncertainty={self.uncertainty!r}, sigma={self.sigma!r}, ' \
               f'student_key=' \
               f'{self.student_key!r}, teacher_key={self.teacher_key!r}'


def _as_levels(x: Feature, name: str) -> List[torch.Tensor]:
    """A tensor as one level, a tuple or list of tensors as its levels."""
    levels = list(x) if isinstance(x, (tuple, list)) else [x]
    if not all(isinstance(t, torch.Tensor) for t in levels):
        raise TypeError(f'UncertaintyAwareKDLoss: `{name}` must be a tensor '
                        'or a tuple/list of tensors, but got '
                        f'{type(x).__name__}')
    return levels


def _like(template: Feature, levels: List[torch.Tensor]) -> Feature:
    """``levels`` in the structure of ``template`` (tensor, tuple or list)."""
    if isinstance(template, (tuple, list)):
        return type(template)(levels)
    return levels[0]


@functools.lru_cache(maxsize=None)
def default_generator() -> nn.Module:
    """The generator of a wrapper without one of its own, called directly.

    One instance, and so one random stream, for every such wrapper: the
    wrappers of one iteration continue the stream in turn instead of
    drawing the same masks.
    """
    return MODELS.build(generator_cfg('UncertaintyAwareKDLoss', None))
