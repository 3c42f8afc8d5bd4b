"""AvatarGenerator: N perturbed Avatars of a recorded teacher feature."""
import inspect
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

from ..checks import check_int
from .avatar_random import AvatarRandom, Draws
from .perturbations import PERTURBATIONS

Feature = Union[torch.Tensor, Sequence[torch.Tensor]]
PerturbationCfg = Union[Dict, Sequence[Dict]]

#: The generator that ``avatar_generator=None`` (or a dict without ``type``)
#: starts from.
DEFAULT_GENERATOR = dict(type='AvatarGenerator')


def generator_cfg(owner: str, cfg: Optional[Dict]) -> Dict:
    """The full config of an Avatar generator given as ``avatar_generator``.

    ``AvatarDistiller`` and ``UncertaintyAwareKDLoss`` accept the same forms:
    None (the default generator), a dict without ``type`` (updates the
    default's arguments, e.g. ``dict(num_avatars=2)``) or a dict with
    ``type``.

    Args:
        owner (str): Who takes the config (named in the error).
        cfg (dict, optional): The ``avatar_generator`` value received.

    Returns:
        dict: A config with a ``type``, ready for ``MODELS.build``.

    Raises:
        TypeError: ``cfg`` is neither None nor a dict.
    """
    if cfg is None:
        return dict(DEFAULT_GENERATOR)
    if not isinstance(cfg, dict):
        raise TypeError(
            f'{owner}: `avatar_generator` must be None or a dict (with or '
            "without 'type', e.g. dict(num_avatars=2)), but got "
            f'{cfg!r} ({type(cfg).__name__})')
    full = dict(DEFAULT_GENERATOR)
    full.update(cfg)
    return full


@MODELS.register_module()
class AvatarGenerator(BaseModule):
    """Generates N Avatars from one recorded teacher feature (AKD).

    ``A_i = P(T)`` for ``i = 1..N``, where ``P`` is a random perturbation and
    ``T`` the vanilla teacher feature recorded in the one teacher forward of
    the iteration. The N Avatars of a tensor of shape ``(B, C, *spatial)`` are
    returned stacked as ``(N, B, C, *spatial)`` and drawn in one batched
    operation. The teacher tensor is detached (no gradient reaches the
    teacher) and never modified in place.

    The perturbations draw from the generator's own random stream
    (:class:`~.avatar_random.AvatarRandom`, attribute ``random``), never
    from torch's global one: at training iteration ``step`` the draws depend
    only on the run's seed, the rank, ``step`` and the stream's name
    (``AvatarDistiller`` names its generators after their place in the
    distiller), so ranks draw different Avatars and a resumed run draws what
    the uninterrupted one did.

    Args:
        num_avatars (int): N, the number of Avatars per call. The authors'
            release uses 1 (the ensemble then forms across iterations).
            Defaults to 1.
        perturbation (dict | list[dict]): The perturbation transformation,
            by ``type`` with its parameters, or a list applied in order. Types:
            ``ElementDropout`` (``p``), ``ChannelDropout`` (``p``),
            ``SpatialMask`` (``p``), ``GaussianNoise`` (``std``, ``mode``).
            Defaults to ``dict(type='ElementDropout', p=0.1)``, the paper's.
        init_cfg (dict, optional): Unused; kept for mmengine's BaseModule.

    Example:
        >>> gen = AvatarGenerator(num_avatars=4)
        >>> gen(torch.randn(2, 256, 16, 16)).shape
        torch.Size([4, 2, 256, 16, 16])
    """

    def __init__(self,
                 num_avatars: int = 1,
                 perturbation: PerturbationCfg = dict(
                     type='ElementDropout', p=0.1),
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg)
        self.num_avatars = check_int('AvatarGenerator', 'num_avatars',
                                     num_avatars, 1)
        if isinstance(perturbation, dict):
            cfgs = [perturbation]
        elif isinstance(perturbation, (list, tuple)):
            cfgs = list(perturbation)
        else:
            raise TypeError(
                'AvatarGenerator: `perturbation` must be a dict or a list of '
                "dicts, e.g. dict(type='ElementDropout', p=0.1), but got "
                f'{perturbation!r} ({type(perturbation).__name__})')
        if not cfgs:
            raise ValueError(
                'AvatarGenerator: `perturbation` is an empty list; give at '
                "least one, e.g. dict(type='ElementDropout', p=0.0) for "
                'Avatars identical to the teacher')
        self.perturbations = [self._build_perturbation(c) for c in cfgs]
        self.random = AvatarRandom()

    @staticmethod
    def _build_perturbation(cfg: Dict):
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise TypeError('AvatarGenerator: each `perturbation` must be a '
                            f"dict with a 'type', but got {cfg!r}")
        args = dict(cfg)
        name = args.pop('type')
        perturbation_cls = PERTURBATIONS.get(name)  # for a named error
        if perturbation_cls is None:
            raise KeyError(
                f'AvatarGenerator: unknown `perturbation` type {name!r}; '
                f'expected one of {sorted(PERTURBATIONS.module_dict)}')
        try:
            inspect.signature(perturbation_cls).bind(**args)
        except TypeError as err:
            raise TypeError(
                f'AvatarGenerator: `perturbation` {cfg!r}: {err}; '
                f'{name} takes {inspect.signature(perturbation_cls)}') \
                from None
        # In mmakd's scope, so that build() searches PERTURBATIONS itself
        # whatever the default scope (mmrazor's, mmdet's) is.
        with DefaultScope.overwrite_default_scope(PERTURBATIONS.scope):
            return PERTURBATIONS.build(cfg)

    @property
    def needs_spatial(self) -> bool:
        """Whether a perturbation needs ``(B, C, H, ...)`` features."""
        return any(
            getattr(p, 'needs_spatial', False) for p in self.perturbations)

    def manual_seed(self, seed: int) -> 'AvatarGenerator':
        """Seeds the Avatars' stream with ``seed`` instead of the run's seed
        (``torch.initial_seed()``) and restarts its call count: draws
        outside a training run (tools, tests) are then repeatable.

        Args:
            seed (int): The seed.

        Returns:
            AvatarGenerator: self.
        """
        self.random.manual_seed(seed)
        return self

    def generate(self, teacher: torch.Tensor, draws: Draws) -> torch.Tensor:
        """Avatars of one tensor: ``(B, ...)`` -> ``(N, B, ...)``."""
        if not isinstance(teacher, torch.Tensor):
            raise TypeError('AvatarGenerator expects a tensor or a sequence '
                            'of tensors, but got '
                            f'{type(teacher).__name__}')
        # expand() is a view: the perturbations below allocate the N Avatars.
        avatars = teacher.detach().unsqueeze(0).expand(
            self.num_avatars, *teacher.shape)
        for perturb in self.perturbations:
            avatars = perturb(avatars, draws)
        if avatars.data_ptr() == teacher.data_ptr():
            # Identity perturbation: give callers memory of their own.
            avatars = avatars.clone()
        return avatars

    def forward(self,
                teacher: Feature,
                step: Optional[int] = None) -> Union[torch.Tensor, Tuple,
                                                     List]:
        """Avatars of a tensor, or of each level of a tuple/list of tensors.

        Args:
            teacher (Tensor | Sequence[Tensor]): Recorded teacher feature(s).
            step (int, optional): The training iteration, which selects the
                draws (calls in one step continue its stream). None: each
                call is a step of its own. Defaults to None.

        Returns:
            Tensor | tuple | list: Avatars with a leading dimension N, in the
            structure of ``teacher``.
        """
        if step is None:
            step = self.random.next_step()
        if isinstance(teacher, (tuple, list)):
            return type(teacher)(self._generate_at(t, step) for t in teacher)
        return self._generate_at(teacher, step)

    def _generate_at(self, teacher: torch.Tensor, step: int) -> torch.Tensor:
        device = teacher.device if isinstance(teacher, torch.Tensor) \
            else torch.device('cpu')  # generate() names the wrong type
        return self.generate(teacher, self.random.draws(device, step))

    def extra_repr(self) -> str:
        return f'num_avatars={self.num_avatars}, ' \
               f'perturbation={self.perturbations}'
