"""The Digit Scenes project: its data set, composed from scikit-learn's
digits, and the demo that distils on it (:mod:`.demo`).

Not part of the ``mmakd`` package: it needs the ``demo`` extra
(``pip install mmakd[demo]``: scikit-learn, matplotlib), which the plugin's
runtime does not. Imported as ``projects.digit_scenes.digit_scenes`` with
the repository root on ``PYTHONPATH`` (projects/digit_scenes/README.md).
"""
from .export import create_digit_scenes, scenes_to_coco, write_split
from .scenes import (DIGIT_CLASSES, SEG_CLASSES, SEG_PALETTE, DigitInstance,
                     Scene, SceneConfig, generate_split, load_digit_pool,
                     make_scene, split_digit_indices, tight_box)

__all__ = [
    'DIGIT_CLASSES', 'SEG_CLASSES', 'SEG_PALETTE', 'DigitInstance', 'Scene',
    'SceneConfig', 'create_digit_scenes', 'generate_split',
    'load_digit_pool', 'make_scene', 'scenes_to_coco', 'split_digit_indices',
    'tight_box', 'write_split'
]
