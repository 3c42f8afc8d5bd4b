"""Writes Digit Scenes to disk for mmdet and mmseg.

Detection: COCO JSON (loadable by mmdet's ``CocoDataset``; category
``k + 1`` is digit ``k``, named ``'k'``). Semantic segmentation: PNG label
maps (``0`` = background, ``k + 1`` = digit ``k``; loadable by mmseg's
``BaseSegDataset``). Layout under the dataset root: ``images/{split}/``,
``seg_maps/{split}/``, ``annotations/instances_{split}.json`` and
``meta.json``.
"""
import json
import os
import os.path as osp
from dataclasses import asdict
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

from .scenes import (DIGIT_CLASSES, SPLITS, Scene, SceneConfig, generate_split,
                     load_digit_pool, split_digit_indices)


def _rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a boolean mask, JSON-serialisable."""
    from pycocotools import mask as mask_utils
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def scenes_to_coco(scenes: Sequence[Scene], file_names: Sequence[str],
                   with_masks: bool = True) -> dict:
    """COCO detection annotations of scenes.

    Args:
        scenes: The scenes.
        file_names: Image file name of each scene (relative to the image
            prefix).
        with_masks: Also store each digit's mask as compressed RLE.

    Returns:
        The COCO dict (``images``, ``annotations``, ``categories``). The
        category of digit ``k`` has id ``k + 1`` and name ``'k'``; each
        annotation also records its source ``digit_index``.
    """
    images, annotations = [], []
    for image_id, (scene, name) in enumerate(zip(scenes, file_names)):
        height, width = scene.seg_map.shape
        images.append(dict(id=image_id, file_name=name, width=width,
                           height=height))
        for inst in scene.instances:
            x1, y1, x2, y2 = inst.bbox
            ann = dict(id=len(annotations) + 1, image_id=image_id,
                       category_id=inst.label + 1,
                       bbox=[x1, y1, x2 - x1, y2 - y1],
                       area=int(inst.mask.sum()), iscrowd=0,
                       digit_index=inst.digit_index)
            if with_masks:
                ann['segmentation'] = _rle(inst.mask)
            annotations.append(ann)
    categories = [dict(id=k + 1, name=name, supercategory='digit')
                  for k, name in enumerate(DIGIT_CLASSES)]
    return dict(images=images, annotations=annotations,
                categories=categories)


def _write_png(path: str, array: np.ndarray) -> None:
    """Write a PNG (fixed compression, so files are reproducible)."""
    if not cv2.imwrite(path, array, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise IOError(f'could not write {path}')


def write_split(out_dir: str, split: str, scenes: Sequence[Scene]) -> dict:
    """Write one split's images, label maps and COCO JSON.

    Layout under ``out_dir``: ``images/{split}/NNNNN.png``,
    ``seg_maps/{split}/NNNNN.png`` and
    ``annotations/instances_{split}.json``.

    Args:
        out_dir: Dataset root.
        split: Split name.
        scenes: The split's scenes.

    Returns:
        The COCO dict that was written.
    """
    img_dir = osp.join(out_dir, 'images', split)
    seg_dir = osp.join(out_dir, 'seg_maps', split)
    ann_dir = osp.join(out_dir, 'annotations')
    for d in (img_dir, seg_dir, ann_dir):
        os.makedirs(d, exist_ok=True)
    names = [f'{i:05d}.png' for i in range(len(scenes))]
    for name, scene in zip(names, scenes):
        _write_png(osp.join(img_dir, name), scene.image)
        _write_png(osp.join(seg_dir, name), scene.seg_map)
    coco = scenes_to_coco(scenes, names)
    with open(osp.join(ann_dir, f'instances_{split}.json'), 'w') as f:
        json.dump(coco, f)
    return coco


def create_digit_scenes(out_dir: str, num_train: int = 1500,
                        num_val: int = 300, seed: int = 0,
                        cfg: Optional[SceneConfig] = None,
                        val_ratio: float = 0.2) -> Dict[str, int]:
    """Generate and write the whole dataset.

    Also writes ``meta.json`` (the configuration and the source digit
    indices of each split).

    Args:
        out_dir: Dataset root, e.g. ``data/digit_scenes``.
        num_train: Number of training scenes.
        num_val: Number of validation scenes.
        seed: Dataset seed.
        cfg: Scene configuration; defaults to :class:`SceneConfig`.
        val_ratio: Fraction of the source digits kept for validation.

    Returns:
        Counts: scenes and digit instances per split.
    """
    cfg = cfg or SceneConfig()
    _, labels = load_digit_pool()
    pools = split_digit_indices(labels, val_ratio, seed)
    summary = {}
    for split, num in zip(SPLITS, (num_train, num_val)):
        scenes = generate_split(split, num, seed, cfg, val_ratio)
        coco = write_split(out_dir, split, scenes)
        summary[f'{split}_scenes'] = len(scenes)
        summary[f'{split}_instances'] = len(coco['annotations'])
    meta = dict(seed=seed, val_ratio=val_ratio, config=asdict(cfg),
                classes=list(DIGIT_CLASSES),
                digit_indices={k: v.tolist() for k, v in pools.items()},
                **summary)
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f)
    return summary
