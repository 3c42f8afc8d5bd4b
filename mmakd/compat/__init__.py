"""Narrow compatibility fixes for the OpenMMLab stack on torch 2.x.

Each fix is applied when :mod:`mmakd` is imported, before MMRazor's models.
"""
from . import mmrazor_torch2
from .checkpoint import allow_mmengine_checkpoints

mmrazor_torch2.install()
allow_mmengine_checkpoints()

__all__ = ['allow_mmengine_checkpoints', 'mmrazor_torch2']
