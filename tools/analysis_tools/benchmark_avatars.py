"""Measure what Avatars cost on top of a distillation recipe.

Builds, from one recipe and with identical random weights, the student alone,
the recipe's base KD and the same recipe with ``AvatarDistiller`` in each
uncertainty mode; times full training steps (forward, backward, SGD update)
interleaved over the variants, plus the distill-loss forward on its own.

Example (CPU, the default recipe, small inputs)::

    python tools/analysis_tools/benchmark_avatars.py
    python tools/analysis_tools/benchmark_avatars.py --device cuda \
        --size 800 1216 --iters 20 --amp
"""
import argparse
import copy
import json
import statistics
import time
from typing import Callable, Dict, List

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmakd  # noqa: F401  (compat fixes, registry)
from mmakd.utils import disable_downloads, load_config, resolve_cfg_paths
from mmrazor.registry import MODELS

DEFAULT_RECIPE = \
    'mmrazor::distill/mmdet/cwd/cwd_fpn_retina_r101_retina_r50_1x_coco.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_RECIPE,
                        help='an MMRazor distillation recipe (mmdet model)')
    parser.add_argument('--size', nargs=2, type=int, default=[320, 480],
                        metavar=('H', 'W'), help='input size')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--num-avatars', type=int, default=1)
    parser.add_argument('--modes', nargs='+', default=['paper', 'official',
                                                       'none'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--amp', action='store_true',
                        help='fp16 autocast (AmpOptimWrapper); CUDA only')
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args()


def akd_state_dict(base_state: Dict[str, torch.Tensor],
                   akd_state: Dict[str, torch.Tensor]) -> Dict:
    """``base_state`` under the key names of the AKD model.

    A wrapped loss keeps its parameters (e.g. FGD's context blocks) under
    ``distill_losses.<name>.base_loss.``; everything else keeps its name.
    """
    marker = 'distill_losses.'
    renamed = {}
    for key, value in base_state.items():
        if key not in akd_state and marker in key:
            head, rest = key.split(marker, 1)
            name, _, tail = rest.partition('.')
            key = f'{head}{marker}{name}.base_loss.{tail}'
        renamed[key] = value
    return renamed


def build_variants(cfg: Config, args) -> Dict[str, torch.nn.Module]:
    """Student alone, base KD and one AKD model per mode, same weights."""
    model_cfg = disable_downloads(resolve_cfg_paths(cfg.model))
    torch.manual_seed(0)
    base = MODELS.build(copy.deepcopy(model_cfg))
    variants = {'student alone': base.student, 'base KD': base}
    for mode in args.modes:
        akd_cfg = copy.deepcopy(model_cfg)
        akd_cfg.distiller.update(
            type='AvatarDistiller',
            uncertainty=mode,
            avatar_generator=dict(num_avatars=args.num_avatars))
        akd = MODELS.build(akd_cfg)
        akd.load_state_dict(
            akd_state_dict(base.state_dict(), akd.state_dict()), strict=True)
        variants[f'AKD ({mode})'] = akd
    for model in variants.values():
        model.to(args.device)
        model.train()  # MMRazor's train() returns None: not chainable
    return variants


def det_batch(args) -> dict:
    """A generated detection batch (5 boxes an image), as a loader packs it."""
    from mmdet.testing import demo_mm_inputs
    shapes = [[3, *args.size]] * args.batch_size
    return demo_mm_inputs(
        args.batch_size, shapes, num_items=[5] * args.batch_size,
        num_classes=80)


def timed(fn: Callable, device: str) -> Callable:
    """``fn`` that also appends its wall time (seconds) to ``fn.times``."""
    times: List[float] = []

    def wrapper(*a, **kw):
        sync(device)
        start = time.perf_counter()
        out = fn(*a, **kw)
        sync(device)
        times.append(time.perf_counter() - start)
        return out

    wrapper.times = times
    return wrapper


def step_memory(step: Callable) -> float:
    """GPU memory one step adds on top of what is already allocated (GiB).

    Every variant's weights stay resident during the benchmark, so the peak
    is taken relative to the allocation before the step.
    """
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    return (torch.cuda.max_memory_allocated() - before) / 2**30


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config)
    init_default_scope('mmrazor')
    variants = build_variants(cfg, args)
    packed = det_batch(args)
    optim = dict(
        type='AmpOptimWrapper' if args.amp else 'OptimWrapper',
        optimizer=dict(type='SGD', lr=1e-4, momentum=0.9))
    steps, loss_times = {}, {}
    for name, model in variants.items():
        wrapper = build_optim_wrapper(model, copy.deepcopy(optim))
        steps[name] = timed(
            lambda m=model, w=wrapper: m.train_step(copy.deepcopy(packed), w),
            args.device)
        if hasattr(model, 'distiller'):
            model.distiller.compute_distill_losses = timed(
                model.distiller.compute_distill_losses, args.device)
            loss_times[name] = model.distiller.compute_distill_losses.times
    for _ in range(args.warmup + args.iters):
        for step in steps.values():  # interleaved: drift hits all alike
            step()
    results = {}
    for name, step in steps.items():
        row = dict(step_ms=1e3 * statistics.median(step.times[args.warmup:]))
        if name in loss_times:
            row['distill_ms'] = 1e3 * statistics.median(
                loss_times[name][args.warmup:])
        if args.device.startswith('cuda'):
            row['step_mem_gib'] = step_memory(step)
        results[name] = row
    report(results, args)


def report(results: Dict[str, dict], args) -> None:
    device = torch.cuda.get_device_name() if args.device.startswith('cuda') \
        else f'CPU ({torch.get_num_threads()} threads)'
    print(f'\n{args.config}\n{device}, batch {args.batch_size}, '
          f'{args.size[0]}x{args.size[1]}, {args.num_avatars} Avatar(s), '
          f"{'fp16 autocast' if args.amp else 'fp32'}, median of "
          f'{args.iters} steps after {args.warmup} warm-up\n')
    base = results['base KD']
    mem = 'step_mem_gib' in base
    print('| variant | train step (ms) | vs base KD | distill losses fwd '
          '(ms) |' + (' step memory (GiB) |' if mem else '') +
          '\n|---|---|---|---|' + ('---|' if mem else ''))
    for name, row in results.items():
        distill = f"{row['distill_ms']:.1f}" if 'distill_ms' in row else '—'
        print(f"| {name} | {row['step_ms']:.1f} | "
              f"x{row['step_ms'] / base['step_ms']:.3f} | {distill} |" +
              (f" {row['step_mem_gib']:.2f} |" if mem else ''))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, device=device,
                           args=vars(args), results=results), f, indent=2)


if __name__ == '__main__':
    main()
