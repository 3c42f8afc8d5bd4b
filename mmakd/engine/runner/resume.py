"""What a resume continues, said before the Runner resumes."""
import logging

from mmengine.config import Config
from mmengine.logging import print_log

__all__ = ['warn_unseeded_resume']


def warn_unseeded_resume(cfg: Config) -> bool:
    """Logs what a resume without ``randomness.seed`` does not continue.

    mmengine builds the data sampler with a fresh random seed before it
    loads the checkpoint, and only then puts the checkpoint's seed back; so
    the weights, the optimizer and the Avatars continue, but the order of
    the data after the resume is not the uninterrupted run's.

    Args:
        cfg (Config): The config, after ``--resume`` was applied.

    Returns:
        bool: Whether the warning was logged.
    """
    seed = (cfg.get('randomness') or {}).get('seed')
    if not cfg.get('resume') or seed is not None:
        return False
    print_log(
        'Resuming a config without `randomness.seed`: mmengine seeds the '
        "data sampler afresh before it restores the checkpoint's seed, so "
        'the data order from here on differs from the uninterrupted run '
        "(weights, optimizer and Avatars continue). Set `randomness.seed` "
        '(e.g. --cfg-options randomness.seed=0) for a bit-identical resume',
        logger='current',
        level=logging.WARNING)
    return True
