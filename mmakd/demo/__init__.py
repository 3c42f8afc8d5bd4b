"""The demo's data: Digit Scenes, composed from scikit-learn's digits.

Not imported by ``import mmakd``: it needs the ``demo`` extra
(``pip install mmakd[demo]``: scikit-learn, matplotlib), which the plugin's
runtime does not.
"""
from .digit_scenes import (DIGIT_CLASSES, SEG_CLASSES, SEG_PALETTE,
                           DigitInstance, Scene, SceneConfig, generate_split,
                           load_digit_pool, make_scene, split_digit_indices,
                           tight_box)
from .export import create_digit_scenes, scenes_to_coco, write_split

__all__ = [
    'DIGIT_CLASSES', 'SEG_CLASSES', 'SEG_PALETTE', 'DigitInstance', 'Scene',
    'SceneConfig', 'create_digit_scenes', 'generate_split',
    'load_digit_pool', 'make_scene', 'scenes_to_coco', 'split_digit_indices',
    'tight_box', 'write_split'
]
