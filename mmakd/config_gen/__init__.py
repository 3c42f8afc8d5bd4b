"""Distillation configs for any mmdet/mmseg teacher and student.

``tools/misc/distill_config.py`` lists what a model can record
(:func:`~.probe.probe_model`), pairs a teacher's and a student's outputs by
stride (:func:`~.pairing.pair_outputs`) and writes a config with each
method's published defaults (:mod:`.methods`, :mod:`.writer`).
"""
from .methods import METHODS
from .pairing import default_where, modules_of, pair_outputs
from .probe import ConfigError, ModelProbe, Output, probe_model
from .writer import algorithm_of, distiller_cfg, render

__all__ = [
    'METHODS', 'ConfigError', 'ModelProbe', 'Output', 'algorithm_of',
    'default_where', 'distiller_cfg', 'modules_of', 'pair_outputs',
    'probe_model', 'render'
]
