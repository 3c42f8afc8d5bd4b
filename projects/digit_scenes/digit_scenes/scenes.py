"""Digit Scenes: a small, real, dense-prediction dataset built on the fly.

Scenes are composed of the 1,797 real 8x8 handwritten digits that
scikit-learn ships (``sklearn.datasets.load_digits``, 10 classes): each
scene pastes a few upscaled digits, without overlap, on a small canvas with
faint background clutter (strokes, blobs, non-digit fragments of handwriting)
and noise, then colours it. The digits are split into train and validation
pools *before* composing, so no digit image appears in both splits.

Every annotated digit has:

* a **mask**: the pixels where the digit's upscaled intensity (in ``[0, 1]``)
  exceeds :attr:`SceneConfig.mask_thr`;
* a **box**: tight around its mask, so boxes and masks agree.

This module composes scenes in memory; :mod:`.export` writes them
for detection and segmentation.

Generation is deterministic: the same seed and configuration give identical
arrays and JSON. Each scene draws from its own generator seeded by
``(seed, split, index)``, so a scene does not depend on how many are made.
"""
import functools
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

DIGIT_CLASSES: Tuple[str, ...] = tuple(str(k) for k in range(10))
SEG_CLASSES: Tuple[str, ...] = ('background', ) + DIGIT_CLASSES
SEG_PALETTE: List[List[int]] = [[0, 0, 0], [230, 25, 75], [60, 180, 75],
                                [255, 225, 25], [0, 130, 200],
                                [245, 130, 48], [145, 30, 180],
                                [70, 240, 240], [240, 50, 230],
                                [210, 245, 60], [250, 190, 212]]
SPLITS: Tuple[str, ...] = ('train', 'val')
_SPLIT_IDS = {'train': 0, 'val': 1}


@dataclass
class SceneConfig:
    """How scenes are composed.

    Args:
        canvas_size: ``(height, width)`` of every scene, in pixels.
        num_digits: Inclusive ``(min, max)`` number of digits per scene.
        scale_range: Range of the upscaling factor of the 8x8 digits.
        gap: Minimum empty pixels between the patches of two digits.
        mask_thr: A digit pixel belongs to its mask where its upscaled
            intensity (``[0, 1]``) exceeds this.
        contrast_range: Range of the factor the digit's intensity is
            multiplied by when pasted (the mask is taken before it).
        num_strokes: Inclusive range of faint clutter strokes per scene.
        num_blobs: Inclusive range of faint blurred blobs per scene.
        num_fragments: Inclusive range of non-digit fragments (small
            crops of handwriting) per scene, placed off the digits.
        clutter_intensity: Range of the intensity of strokes and blobs.
        fragment_intensity: Range of the factor applied to fragments.
        noise_std: Range of the std of the additive Gaussian noise.
        max_tries: Placement attempts per digit before it is dropped.
    """

    canvas_size: Tuple[int, int] = (64, 64)
    num_digits: Tuple[int, int] = (2, 4)
    scale_range: Tuple[float, float] = (2.0, 3.5)
    gap: int = 1
    mask_thr: float = 0.5
    contrast_range: Tuple[float, float] = (0.8, 1.0)
    num_strokes: Tuple[int, int] = (1, 4)
    num_blobs: Tuple[int, int] = (0, 3)
    num_fragments: Tuple[int, int] = (0, 2)
    clutter_intensity: Tuple[float, float] = (0.12, 0.4)
    fragment_intensity: Tuple[float, float] = (0.3, 0.55)
    noise_std: Tuple[float, float] = (0.02, 0.06)
    max_tries: int = 50

    def __post_init__(self) -> None:
        low, high = self.num_digits
        if not 1 <= low <= high:
            raise ValueError(
                'SceneConfig: `num_digits` must be (min, max) with '
                f'1 <= min <= max, but got {self.num_digits}')
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError('SceneConfig: `scale_range` must be (min, max) '
                             f'with 0 < min <= max, but got '
                             f'{self.scale_range}')
        largest = int(round(8 * self.scale_range[1]))
        if min(self.canvas_size) < largest:
            raise ValueError(
                f'SceneConfig: `canvas_size` {self.canvas_size} cannot hold '
                f'a digit upscaled by scale_range[1]={self.scale_range[1]} '
                f'({largest} px); expected both sides >= {largest}')
        if self.max_tries < 1:
            raise ValueError('SceneConfig: `max_tries` must be >= 1, but got '
                             f'{self.max_tries}')


@dataclass
class DigitInstance:
    """One pasted digit.

    Args:
        label: The digit, ``0``-``9``.
        digit_index: Index of the source image in ``load_digits()``.
        bbox: Tight box around the mask, ``[x1, y1, x2, y2]`` with
            exclusive ``x2, y2`` (pixel units).
        mask: Boolean ``(H, W)`` mask of the digit in the scene.
        patch_box: Where the whole upscaled patch was pasted,
            ``[x1, y1, x2, y2]`` (exclusive ends).
        nearest: Whether the patch was upscaled with nearest-neighbour
            (else bilinear) interpolation.
    """

    label: int
    digit_index: int
    bbox: List[int]
    mask: np.ndarray = field(repr=False)
    patch_box: List[int] = field(default_factory=list)
    nearest: bool = False


@dataclass
class Scene:
    """A composed scene.

    Args:
        image: ``(H, W, 3)`` uint8 image, BGR order (as OpenCV writes it).
        seg_map: ``(H, W)`` uint8 label map, ``0`` = background.
        instances: The pasted digits.
    """

    image: np.ndarray
    seg_map: np.ndarray
    instances: List[DigitInstance]


@functools.lru_cache(maxsize=1)
def load_digit_pool() -> Tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's handwritten digits, once per process.

    Returns:
        ``(images, labels)``: float32 ``(1797, 8, 8)`` in ``[0, 1]`` and
        int64 ``(1797,)`` digits, read-only (they are shared).
    """
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    for array in (images, labels):
        array.setflags(write=False)
    return images, labels


def split_digit_indices(labels: np.ndarray, val_ratio: float = 0.2,
                        seed: int = 0) -> Dict[str, np.ndarray]:
    """Split the source digits into disjoint, class-stratified pools.

    Args:
        labels: Digit label of every source image.
        val_ratio: Fraction of each class that goes to validation.
        seed: Seed of the split.

    Returns:
        ``{'train': indices, 'val': indices}``, sorted, disjoint.
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n_val = int(round(len(idx) * val_ratio))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return dict(train=np.sort(np.concatenate(train)),
                val=np.sort(np.concatenate(val)))


def _randint(rng: np.random.Generator, bounds: Sequence[int]) -> int:
    """Uniform integer in the inclusive range ``bounds``."""
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _uniform(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    """Uniform float in ``bounds``."""
    return float(rng.uniform(bounds[0], bounds[1]))


def upscale_digit(digit: np.ndarray, size: int,
                  nearest: bool = False) -> np.ndarray:
    """Upscale an 8x8 digit to a square patch.

    Args:
        digit: ``(8, 8)`` float image in ``[0, 1]``.
        size: Side of the patch, in pixels.
        nearest: Nearest-neighbour instead of bilinear interpolation.

    Returns:
        The ``(size, size)`` float32 patch, clipped to ``[0, 1]``.
    """
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    patch = cv2.resize(digit, (size, size), interpolation=interp)
    return np.clip(patch, 0.0, 1.0).astype(np.float32)


def tight_box(mask: np.ndarray) -> Optional[List[int]]:
    """Tight ``[x1, y1, x2, y2]`` box (exclusive ends) of a mask.

    Args:
        mask: Boolean 2D mask.

    Returns:
        The box, or None for an empty mask.
    """
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1,
            int(ys.max()) + 1]


def _overlaps(box: Sequence[int], boxes: Sequence[Sequence[int]],
              gap: int) -> bool:
    """Whether ``box`` comes closer than ``gap`` to any of ``boxes``."""
    x1, y1, x2, y2 = box
    for bx1, by1, bx2, by2 in boxes:
        if (x1 < bx2 + gap and bx1 < x2 + gap and y1 < by2 + gap
                and by1 < y2 + gap):
            return True
    return False


def _place(rng: np.random.Generator, size: Tuple[int, int],
           canvas_size: Tuple[int, int], taken: List[List[int]], gap: int,
           max_tries: int) -> Optional[List[int]]:
    """Find a free ``[x1, y1, x2, y2]`` spot of ``size = (h, w)``."""
    h, w = size
    height, width = canvas_size
    if h > height or w > width:
        return None
    for _ in range(max_tries):
        x = int(rng.integers(0, width - w + 1))
        y = int(rng.integers(0, height - h + 1))
        box = [x, y, x + w, y + h]
        if not _overlaps(box, taken, gap):
            return box
    return None


def _draw_strokes(rng: np.random.Generator, canvas: np.ndarray,
                  cfg: SceneConfig) -> None:
    """Draw faint lines and arcs on ``canvas`` in place (max-composited)."""
    height, width = canvas.shape
    layer = np.zeros_like(canvas)
    for _ in range(_randint(rng, cfg.num_strokes)):
        value = _uniform(rng, cfg.clutter_intensity)
        if rng.random() < 0.5:
            p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(layer, p1, p2, value, 1, cv2.LINE_AA)
        else:
            center = (int(rng.integers(0, width)),
                      int(rng.integers(0, height)))
            axes = (int(rng.integers(3, 12)), int(rng.integers(3, 12)))
            start = float(rng.uniform(0, 360))
            cv2.ellipse(layer, center, axes, float(rng.uniform(0, 180)),
                        start, start + float(rng.uniform(60, 240)), value, 1,
                        cv2.LINE_AA)
    np.maximum(canvas, layer, out=canvas)


def _draw_blobs(rng: np.random.Generator, canvas: np.ndarray,
                cfg: SceneConfig) -> None:
    """Add faint blurred blobs to ``canvas`` in place (max-composited)."""
    num = _randint(rng, cfg.num_blobs)
    if num == 0:
        return
    height, width = canvas.shape
    layer = np.zeros_like(canvas)
    for _ in range(num):
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(2, 8)), int(rng.integers(2, 8)))
        cv2.ellipse(layer, center, axes, float(rng.uniform(0, 180)), 0, 360,
                    _uniform(rng, cfg.clutter_intensity), -1)
    layer = cv2.GaussianBlur(layer, (5, 5), 1.5)
    np.maximum(canvas, layer, out=canvas)


def _draw_fragments(rng: np.random.Generator, canvas: np.ndarray,
                    taken: List[List[int]], digits: np.ndarray,
                    pool: np.ndarray, cfg: SceneConfig) -> None:
    """Paste faint crops of handwriting (not whole digits) off the digits.

    Args:
        rng: The scene's generator.
        canvas: Intensity canvas, modified in place.
        taken: Boxes of the digit patches; fragments keep off them.
        digits: All source digit images.
        pool: Indices of the split's digits (fragments stay in-split).
        cfg: Scene configuration.
    """
    for _ in range(_randint(rng, cfg.num_fragments)):
        src = digits[int(rng.choice(pool))]
        fh, fw = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        y0, x0 = int(rng.integers(0, 9 - fh)), int(rng.integers(0, 9 - fw))
        crop = src[y0:y0 + fh, x0:x0 + fw]
        scale = _uniform(rng, cfg.scale_range)
        size = (max(int(round(fw * scale)), 1), max(int(round(fh * scale)), 1))
        patch = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR)
        patch = patch * _uniform(rng, cfg.fragment_intensity)
        box = _place(rng, patch.shape, canvas.shape, taken, cfg.gap,
                     cfg.max_tries)
        if box is not None:
            x1, y1, x2, y2 = box
            np.maximum(canvas[y1:y2, x1:x2], patch, out=canvas[y1:y2, x1:x2])


def _paste_digits(rng: np.random.Generator, canvas: np.ndarray,
                  digits: np.ndarray, labels: np.ndarray, pool: np.ndarray,
                  cfg: SceneConfig
                  ) -> Tuple[List[DigitInstance], List[List[int]]]:
    """Paste upscaled digits without overlap; return them and their patches.

    Args:
        rng: The scene's generator.
        canvas: Intensity canvas, modified in place.
        digits: All source digit images.
        labels: All source digit labels.
        pool: Indices of the split's digits.
        cfg: Scene configuration.

    Returns:
        The instances and the boxes of their (whole) patches.
    """
    instances: List[DigitInstance] = []
    taken: List[List[int]] = []
    for _ in range(_randint(rng, cfg.num_digits)):
        index = int(rng.choice(pool))
        size = int(round(digits.shape[1] * _uniform(rng, cfg.scale_range)))
        nearest = bool(rng.random() < 0.25)
        patch = upscale_digit(digits[index], size, nearest)
        box = _place(rng, patch.shape, canvas.shape, taken, cfg.gap,
                     cfg.max_tries)
        mask_patch = patch > cfg.mask_thr
        if box is None or not mask_patch.any():
            continue
        x1, y1, x2, y2 = box
        taken.append(box)
        value = patch * _uniform(rng, cfg.contrast_range)
        np.maximum(canvas[y1:y2, x1:x2], value, out=canvas[y1:y2, x1:x2])
        mask = np.zeros(canvas.shape, dtype=bool)
        mask[y1:y2, x1:x2] = mask_patch
        instances.append(
            DigitInstance(label=int(labels[index]), digit_index=index,
                          bbox=tight_box(mask), mask=mask, patch_box=box,
                          nearest=nearest))
    return instances, taken


def _colorize(rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
    """Map an intensity canvas to a uint8 BGR image (dark bg, bright ink)."""
    background = rng.uniform(0.0, 0.25, size=3)
    ink = rng.uniform(0.7, 1.0, size=3)
    image = background + canvas[..., None] * (ink - background)
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def make_scene(rng: np.random.Generator, digits: np.ndarray,
               labels: np.ndarray, pool: np.ndarray,
               cfg: SceneConfig) -> Scene:
    """Compose one scene.

    Args:
        rng: The scene's own generator.
        digits: All source digit images, ``(N, 8, 8)`` in ``[0, 1]``.
        labels: All source digit labels, ``(N,)``.
        pool: Indices of the digits this split may use.
        cfg: Scene configuration.

    Returns:
        The scene; it holds at least one digit.
    """
    for _ in range(cfg.max_tries):
        canvas = np.zeros(cfg.canvas_size, dtype=np.float32)
        _draw_strokes(rng, canvas, cfg)
        _draw_blobs(rng, canvas, cfg)
        instances, taken = _paste_digits(rng, canvas, digits, labels, pool,
                                         cfg)
        if instances:
            break
    else:
        raise RuntimeError(f'make_scene: no digit could be placed in '
                           f'{cfg.max_tries} scenes; check `mask_thr` '
                           f'({cfg.mask_thr}) and `canvas_size`')
    _draw_fragments(rng, canvas, taken, digits, pool, cfg)
    canvas += rng.normal(0.0, _uniform(rng, cfg.noise_std),
                         canvas.shape).astype(np.float32)
    seg_map = np.zeros(cfg.canvas_size, dtype=np.uint8)
    for inst in instances:
        seg_map[inst.mask] = inst.label + 1
    return Scene(image=_colorize(rng, np.clip(canvas, 0.0, 1.0)),
                 seg_map=seg_map, instances=instances)


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of ``split``.

    Args:
        seed: Dataset seed.
        split: ``'train'`` or ``'val'``.
        index: Scene index within the split.

    Returns:
        A generator that depends only on ``(seed, split, index)``.
    """
    return np.random.default_rng([seed, _SPLIT_IDS[split], index])


def generate_split(split: str, num_scenes: int, seed: int = 0,
                   cfg: Optional[SceneConfig] = None,
                   val_ratio: float = 0.2) -> List[Scene]:
    """Compose the scenes of one split.

    Args:
        split: ``'train'`` or ``'val'``.
        num_scenes: How many scenes.
        seed: Dataset seed (also seeds the digit split).
        cfg: Scene configuration; defaults to :class:`SceneConfig`.
        val_ratio: Fraction of the source digits kept for validation.

    Returns:
        The scenes, in index order.
    """
    cfg = cfg or SceneConfig()
    digits, labels = load_digit_pool()
    pool = split_digit_indices(labels, val_ratio, seed)[split]
    return [
        make_scene(scene_rng(seed, split, i), digits, labels, pool, cfg)
        for i in range(num_scenes)
    ]
