"""Datasets of the demo: Digit Scenes, composed from scikit-learn's digits."""
from .digit_scenes import (DIGIT_CLASSES, SEG_CLASSES, SEG_PALETTE,
                           DigitInstance, Scene, SceneConfig,
                           create_digit_scenes, generate_split,
                           load_digit_pool, make_scene, scenes_to_coco,
                           split_digit_indices, tight_box, write_split)

__all__ = [
    'DIGIT_CLASSES', 'SEG_CLASSES', 'SEG_PALETTE', 'DigitInstance', 'Scene',
    'SceneConfig', 'create_digit_scenes', 'generate_split',
    'load_digit_pool', 'make_scene', 'scenes_to_coco', 'split_digit_indices',
    'tight_box', 'write_split'
]
