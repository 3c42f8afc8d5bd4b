"""The Avatars' own random numbers, apart from torch's global stream.

The draws of a training iteration are a function of four things only: the
run's seed, the rank, the iteration and the stream's name. Each iteration
re-seeds a ``torch.Generator`` of the stream's own (one per device) from a
hash of the four, so that

- ranks draw different Avatars whatever mmengine's ``diff_rank_seed`` says;
- a resumed run draws, at iteration k, exactly what the uninterrupted run
  drew there, on every rank, with nothing saved: the checkpoint's ``meta``
  already holds the seed and the iteration, and mmengine's ``resume`` puts
  the seed back (also when the config has none) before training goes on;
- Avatars never move torch's global stream, so a base-KD run and its AKD
  twin see the same data order, augmentation and other random draws;
- there is no state to broadcast, average (EMA) or checkpoint.

Re-seeding costs microseconds on the host and no device sync.
"""
import hashlib
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmengine.dist import get_rank
from mmengine.logging import MessageHub


def stream_seed(run_seed: int, rank: int, step: int, stream: str) -> int:
    """The generator seed of ``stream`` at ``step`` on ``rank``.

    Args:
        run_seed (int): The run's seed (``torch.initial_seed()``, which
            mmengine's ``randomness`` sets, per rank with
            ``diff_rank_seed=True``).
        rank (int): The global rank.
        step (int): The training iteration (or call count outside a run).
        stream (str): The stream's name, distinct per generator of a model.

    Returns:
        int: A seed in ``[0, 2**63)``.
    """
    key = f'{run_seed}/{rank}/{step}/{stream}'.encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, 'little') >> 1


def runner_iteration(training: bool) -> Optional[int]:
    """The training iteration of the running mmengine ``Runner``, if any.

    Args:
        training (bool): Whether the caller is in training mode; None is
            returned otherwise (a stale hub from an earlier run is not
            read in evaluation).

    Returns:
        int | None: The ``'iter'`` runtime info of the current MessageHub.
    """
    if not training:
        return None
    info = MessageHub.get_current_instance().get_info('iter')
    return info if isinstance(info, int) else None


Shape = Sequence[int]


class Draws:
    """Float32 uniform and normal numbers on one device, from a
    ``torch.Generator`` of that device (not torch's global one).

    Args:
        device (torch.device): The device.
        seed (int): The seed.
    """

    def __init__(self, device: torch.device, seed: int) -> None:
        self.device = device
        self._generator = torch.Generator(device).manual_seed(seed)

    def uniform(self, shape: Shape) -> torch.Tensor:
        """Uniform in [0, 1), float32, of ``shape``."""
        return torch.rand(
            tuple(shape), device=self.device, generator=self._generator)

    def normal(self, shape: Shape) -> torch.Tensor:
        """Standard normal, float32, of ``shape``."""
        return torch.randn(
            tuple(shape), device=self.device, generator=self._generator)


class AvatarRandom:
    """One stream of Avatar random numbers: a source per device
    (:class:`Draws`), re-seeded by :func:`stream_seed` whenever the step
    changes.

    Not a module and not state: copying it (``copy.deepcopy`` of the model,
    as mmengine's EMA does) or pickling it gives a fresh stream of the same
    name, which draws the same numbers at the same step.

    Args:
        stream (str): The stream's name. Defaults to ``''``.
    """

    def __init__(self, stream: str = '') -> None:
        self.stream = stream
        self._calls = 0
        self._seed_override: Optional[int] = None
        self._draws: Dict[torch.device, Tuple[Tuple[int, int, int],
                                              Draws]] = {}
        #: The step and seed of the last re-seeding, for logs and tests.
        self.last_step: Optional[int] = None
        self.last_seed: Optional[int] = None

    def manual_seed(self, seed: int) -> 'AvatarRandom':
        """Uses ``seed`` instead of ``torch.initial_seed()`` as the run's
        seed, and restarts the call count (for draws outside a run).

        Args:
            seed (int): The seed.

        Returns:
            AvatarRandom: self.
        """
        self._seed_override = int(seed)
        self._calls = 0
        self._draws.clear()
        return self

    def next_step(self) -> int:
        """A step for a call outside a training run: the number of such
        calls so far (since :meth:`manual_seed`)."""
        self._calls += 1
        return self._calls - 1

    def draws(self, device: Union[str, torch.device], step: int) -> Draws:
        """The source to draw the Avatars of ``step`` from.

        Args:
            device (str | torch.device): Where the Avatars are drawn.
            step (int): The training iteration, or :meth:`next_step`.

        Returns:
            Draws: On ``device``, seeded for ``step``; calls in the same
            step continue its stream.
        """
        device = torch.device(device)
        run_seed = self._seed_override if self._seed_override is not None \
            else torch.initial_seed()
        key = (run_seed, get_rank(), step)
        current = self._draws.get(device)
        if current is not None and current[0] == key:
            return current[1]
        self.last_step = step
        self.last_seed = stream_seed(*key, self.stream)
        draws = Draws(device, self.last_seed)
        self._draws[device] = (key, draws)
        return draws

    def __deepcopy__(self, memo: Dict) -> 'AvatarRandom':
        copy = AvatarRandom(self.stream)
        copy._seed_override = self._seed_override
        return copy

    def __getstate__(self) -> Dict:
        return dict(stream=self.stream, seed_override=self._seed_override)

    def __setstate__(self, state: Dict) -> None:
        self.__init__(state['stream'])
        self._seed_override = state['seed_override']

    def __repr__(self) -> str:
        return f'AvatarRandom(stream={self.stream!r})'
