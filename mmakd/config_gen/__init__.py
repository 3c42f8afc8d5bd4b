"""Distillation configs for any mmdet/mmseg teacher and student.

``tools/misc/distill_config.py`` lists what a model can record
(:func:`~.probe.probe_model`), probes teacher and student at the student's
input size, pairs their outputs by stride (:func:`~.pairing.pair_outputs`),
writes a config with each method's published defaults (:mod:`.methods`,
:mod:`.writer`) and runs one training step of it before keeping it
(:func:`~.verify.verify_config`); :func:`~.generate.generate_config` does
all of it.
"""
from .generate import Generated, generate_config, list_outputs
from .methods import METHODS
from .pairing import default_where, modules_of, pair_outputs
from .probe import ConfigError, ModelProbe, Output, probe_model
from .verify import VerificationError, verify_config
from .writer import algorithm_of, distiller_cfg, render

__all__ = [
    'METHODS', 'ConfigError', 'Generated', 'ModelProbe', 'Output',
    'VerificationError', 'algorithm_of', 'default_where', 'distiller_cfg',
    'generate_config', 'list_outputs', 'modules_of', 'pair_outputs',
    'probe_model', 'render', 'verify_config'
]
