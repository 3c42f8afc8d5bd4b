"""Generate the Digit Scenes dataset (detection + semantic segmentation).

Composes scenes from scikit-learn's 1,797 real 8x8 handwritten digits
(train and validation use disjoint digits) and writes, under ``--out-dir``::

    images/{train,val}/NNNNN.png        BGR scenes
    seg_maps/{train,val}/NNNNN.png      label maps, 0 = background, k+1 = k
    annotations/instances_{train,val}.json   COCO boxes (+ RLE masks)
    meta.json                           configuration and digit split

From the repository root, with it on ``PYTHONPATH`` (see
projects/digit_scenes/README.md)::

    PYTHONPATH=. python projects/digit_scenes/tools/create_digit_scenes.py
    PYTHONPATH=. python projects/digit_scenes/tools/create_digit_scenes.py \
        --num-train 200 --num-val 50 --out-dir /tmp/digit_scenes
"""
import argparse
import time
from typing import Optional, Sequence

from projects.digit_scenes.digit_scenes import SceneConfig, create_digit_scenes


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='data/digit_scenes',
                        help='dataset root (default: data/digit_scenes)')
    parser.add_argument('--num-train', type=int, default=1500,
                        help='number of training scenes')
    parser.add_argument('--num-val', type=int, default=300,
                        help='number of validation scenes')
    parser.add_argument('--seed', type=int, default=0, help='dataset seed')
    parser.add_argument('--val-ratio', type=float, default=0.2,
                        help='fraction of the source digits for validation')
    parser.add_argument('--canvas-size', type=int, default=64,
                        help='side of the square scenes, in pixels')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Generate the dataset and print a summary.

    Args:
        argv: Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        Counts of scenes and instances per split.
    """
    args = parse_args(argv)
    cfg = SceneConfig(canvas_size=(args.canvas_size, args.canvas_size))
    start = time.perf_counter()
    summary = create_digit_scenes(args.out_dir, args.num_train, args.num_val,
                                  args.seed, cfg, args.val_ratio)
    elapsed = time.perf_counter() - start
    counts = ', '.join(f'{k}={v}' for k, v in summary.items())
    print(f'Digit Scenes written to {args.out_dir} in {elapsed:.1f} s: '
          f'{counts}')
    return summary


if __name__ == '__main__':
    main()
