"""mmakd's registries, where mmengine looks for a scope's (`<scope>.registry`).

mmakd's modules register in MMRazor's ``MODELS`` and ``HOOKS`` (re-exported
here); its own registry is the Avatars' ``PERTURBATIONS`` (scope
``'mmakd'``), which mmengine imports this module for when it builds one.
"""
from mmrazor.registry import HOOKS, MODELS

from .models.avatars.perturbations import PERTURBATIONS

__all__ = ['HOOKS', 'MODELS', 'PERTURBATIONS']
