"""Measure what Avatars cost on top of a distillation recipe.

Builds, from one recipe (mmdet or mmseg) and with identical random weights,
the student alone, the recipe's base KD and the same recipe with
``AvatarDistiller`` in each uncertainty mode, each a model of its own; times
full training steps (forward, backward, SGD update; for AKD also the check
of ``DistillLossCheckHook`` that the AKD configs run after each step)
interleaved over the variants, plus the distill-loss forward on its own
(on CUDA with events, read after the one sync at the end of each step, so
that timing adds no sync inside a step). This is repeated for ``--rounds``
rounds; each ratio to base KD is reported as the median over
rounds with its range, so run-to-run noise is visible.

On CPU, subnormal floats are flushed to zero unless ``--keep-denormals``:
untrained random weights drift into subnormal values at a rate that depends
on each model's own trajectory, and the CPU handles those up to 100x slower,
which made a variant's time reflect its weights rather than its work (the
student alone measured slower than base KD).

Example (CPU, the default recipe, small inputs)::

    python tools/analysis_tools/benchmark_avatars.py
    python tools/analysis_tools/benchmark_avatars.py --device cuda \
        --size 800 1216 --iters 20 --amp
    python tools/analysis_tools/benchmark_avatars.py mmrazor::distill/mmseg/\
cwd/cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py
"""
import argparse
import copy
import json
import statistics
import time
from typing import Callable, Dict, List

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS

import mmakd  # noqa: F401  (compat fixes, registry)
from mmakd.engine.hooks.avatar_stats_hook import LOGGED_ITER_KEY
from mmakd.engine.hooks.distill_loss_check_hook import (DistillLossCheckHook,
                                                        distill_outputs)
from mmakd.models.checks import UNCERTAINTY_MODES
from mmakd.utils import disable_downloads, load_config, resolve_cfg_paths

DEFAULT_RECIPE = \
    'mmrazor::distill/mmdet/cwd/cwd_fpn_retina_r101_retina_r50_1x_coco.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_RECIPE,
                        help='an MMRazor distillation recipe (mmdet or mmseg '
                        'model), a path or pkg::path')
    parser.add_argument('--size', nargs=2, type=int, default=[320, 480],
                        metavar=('H', 'W'), help='input size')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=10,
                        help='timed steps per variant and round')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed steps per variant, first round only')
    parser.add_argument('--rounds', type=int, default=3,
                        help='interleaved rounds; ratios are reported as '
                        'the median over rounds with their range')
    parser.add_argument('--keep-denormals', action='store_true',
                        help='CPU: do not flush subnormal floats to zero')
    parser.add_argument('--num-avatars', type=int, default=1)
    parser.add_argument('--modes', nargs='+', choices=UNCERTAINTY_MODES,
                        default=['paper', 'official', 'none'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--amp', action='store_true',
                        help='fp16 autocast (AmpOptimWrapper); CUDA only')
    parser.add_argument('--log-interval', type=int, default=10,
                        help='AKD computes its logged statistics every '
                        'this many steps, as with AvatarStatsHook and '
                        "LoggerHook's default interval (10); 0: every "
                        'step (no AvatarStatsHook)')
    parser.add_argument('--no-check-variant', action='store_true',
                        help='also time the first mode without the NaN/inf '
                        "check (DistillLossCheckHook's, after each AKD step "
                        'as the AKD configs run it; every step on the CPU)')
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args()


def build_variants(cfg: Config, args) -> Dict[str, torch.nn.Module]:
    """Student alone, base KD and one AKD model per mode, same weights."""
    model_cfg = disable_downloads(resolve_cfg_paths(cfg.model))
    torch.manual_seed(0)
    base = MODELS.build(copy.deepcopy(model_cfg))
    # Its own copy: sharing base KD's student would train it twice a round.
    variants = {'student alone': copy.deepcopy(base.student), 'base KD': base}
    for mode in args.modes:
        akd_cfg = copy.deepcopy(model_cfg)
        akd_cfg.distiller.update(
            type='AvatarDistiller',
            uncertainty=mode,
            avatar_generator=dict(num_avatars=args.num_avatars))
        akd = MODELS.build(akd_cfg)
        # Wrapped losses read base KD's loss parameters (FGD's blocks) under
        # their base-KD names: a plain, strict load.
        akd.load_state_dict(base.state_dict(), strict=True)
        variants[f'AKD ({mode})'] = akd
    if args.no_check_variant:
        variants[f'AKD ({args.modes[0]}, no NaN check)'] = copy.deepcopy(
            variants[f'AKD ({args.modes[0]})'])
    for model in variants.values():
        model.to(args.device)
        model.train()  # MMRazor's train() returns None: not chainable
    return variants


def is_segmentor(model: torch.nn.Module) -> bool:
    """Whether ``model`` is an mmseg model (else an mmdet one)."""
    return type(model).__module__.startswith('mmseg.')


def det_batch(args, num_classes: int = 80) -> dict:
    """A generated detection batch (5 boxes an image), as a loader packs it."""
    from mmdet.testing import demo_mm_inputs
    shapes = [[3, *args.size]] * args.batch_size
    return demo_mm_inputs(
        args.batch_size, shapes, num_items=[5] * args.batch_size,
        num_classes=num_classes)


def det_num_classes(detector: torch.nn.Module) -> int:
    """Number of classes of a one- or two-stage mmdet detector."""
    head = getattr(detector, 'bbox_head', None) or getattr(
        getattr(detector, 'roi_head', None), 'bbox_head', None)
    if isinstance(head, torch.nn.ModuleList):  # cascade: one head a stage
        head = head[-1]
    return getattr(head, 'num_classes', 80)


def seg_batch(args, num_classes: int) -> dict:
    """A generated segmentation batch (random labels), as a loader packs it."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    h, w = args.size
    inputs, samples = [], []
    for _ in range(args.batch_size):
        inputs.append(
            torch.randint(0, 256, (3, h, w), generator=gen,
                          dtype=torch.uint8))
        sample = SegDataSample(
            metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                          pad_shape=(h, w)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, h, w), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def make_batch(variants: Dict[str, torch.nn.Module], args) -> dict:
    """A batch that fits the recipe's student (mmdet or mmseg)."""
    student = variants['student alone']
    if not is_segmentor(student):
        return det_batch(args, det_num_classes(student))
    for model in variants.values():  # pad to the benchmark size, not 512x1024
        if hasattr(model.data_preprocessor, 'size'):
            model.data_preprocessor.size = tuple(args.size)
    return seg_batch(args, student.decode_head.num_classes)


def checked_steps(step: Callable, model: torch.nn.Module) -> Callable:
    """``step`` followed by the check of ``DistillLossCheckHook``, as the
    AKD configs' Runner runs it after each iteration."""
    hook = DistillLossCheckHook()
    calls = [0]

    def wrapper():
        outputs = step()
        hook.check(model.distiller, distill_outputs(outputs), calls[0])
        calls[0] += 1
        return outputs

    return wrapper


def logged_steps(step: Callable, interval: int) -> Callable:
    """``step`` that tells AvatarDistiller, as ``AvatarStatsHook`` does,
    whether its call is a logged iteration: every ``interval``-th (0: the
    hub is left alone, so every call computes the statistics)."""
    calls = [0]

    def wrapper():
        calls[0] += 1
        if interval > 0:
            MessageHub.get_current_instance().update_info(
                LOGGED_ITER_KEY, calls[0] % interval == 0)
        return step()

    return wrapper


class Timer:
    """Times calls of a function: wall clock on the CPU; on CUDA two events
    per call, read once the step that contains the call has finished, so
    that timing adds no host-device sync inside a step.

    Args:
        device (str): ``'cpu'`` or a CUDA device.
    """

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith('cuda')
        self.times: List[float] = []
        self._events: List = []

    def wrap(self, fn: Callable) -> Callable:
        """``fn``, timed on every call."""

        def wrapper(*args, **kwargs):
            if not self.cuda:
                start = time.perf_counter()
                out = fn(*args, **kwargs)
                self.times.append(time.perf_counter() - start)
                return out
            start, end = (torch.cuda.Event(enable_timing=True)
                          for _ in range(2))
            start.record()
            out = fn(*args, **kwargs)
            end.record()
            self._events.append((start, end))
            return out

        return wrapper

    def collect(self) -> None:
        """Turns the recorded events into times (after a sync)."""
        for start, end in self._events:
            self.times.append(start.elapsed_time(end) / 1e3)
        self._events.clear()


def timed_step(step: Callable, timer: Timer,
               inner: List[Timer]) -> Callable:
    """``step`` timed as a whole by ``timer``; on CUDA one sync at its end,
    after which ``timer`` and the ``inner`` timers (of calls inside the
    step) are read."""
    timed = timer.wrap(step)

    def wrapper():
        out = timed()
        if timer.cuda:
            torch.cuda.synchronize()  # the one sync of the step
            for each in (timer, *inner):
                each.collect()
        return out

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


def main() -> None:
    args = parse_args()
    if args.device == 'cpu' and not args.keep_denormals:
        torch.set_flush_denormal(True)
    cfg = load_config(args.config)
    init_default_scope('mmrazor')
    variants = build_variants(cfg, args)
    packed = make_batch(variants, args)
    # lr 0: the SGD step does all its arithmetic, but the weights, and with
    # them each step's work, stay as built; random weights trained on one
    # random batch reached NaN in the student by step 14 (2026-12-07).
    optim = dict(
        type='AmpOptimWrapper' if args.amp else 'OptimWrapper',
        optimizer=dict(type='SGD', lr=0.0, momentum=0.9))
    steps, step_times, loss_times = {}, {}, {}
    for name, model in variants.items():
        wrapper = build_optim_wrapper(model, copy.deepcopy(optim))
        inner = []
        if hasattr(model, 'distiller'):
            loss_timer = Timer(args.device)
            model.distiller.compute_distill_losses = loss_timer.wrap(
                model.distiller.compute_distill_losses)
            loss_times[name] = loss_timer.times
            inner.append(loss_timer)
        step_timer = Timer(args.device)
        step_times[name] = step_timer.times
        step = lambda m=model, w=wrapper: m.train_step(  # noqa: E731
            copy.deepcopy(packed), w)
        if name.startswith('AKD') and not name.endswith('no NaN check)'):
            step = checked_steps(step, model)
        steps[name] = timed_step(logged_steps(step, args.log_interval),
                                 step_timer, inner)
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    rounds = []
    for _ in range(args.rounds):
        for times in [*step_times.values(), *loss_times.values()]:
            times.clear()
        for _ in range(args.iters):
            for step in steps.values():  # interleaved: drift hits all alike
                step()
        rounds.append({
            name: dict(
                step_ms=1e3 * statistics.median(step_times[name]),
                **({
                    'distill_ms': 1e3 * statistics.median(loss_times[name])
                } if name in loss_times else {}))
            for name in steps
        })
    results = summarise(rounds)
    if args.device.startswith('cuda'):
        for name, step in steps.items():
            results[name]['step_mem_gib'] = step_memory(step)
    report(results, args)


def summarise(rounds: List[Dict[str, dict]]) -> Dict[str, dict]:
    """Per variant: median step and distill times over the rounds, and each
    round's step ratio to base KD (``ratios``) with their median."""
    results = {}
    for name in rounds[0]:
        ratios = [r[name]['step_ms'] / r['base KD']['step_ms'] for r in rounds]
        row = dict(
            step_ms=statistics.median(r[name]['step_ms'] for r in rounds),
            ratio=statistics.median(ratios),
            ratios=ratios)
        if 'distill_ms' in rounds[0][name]:
            row['distill_ms'] = statistics.median(r[name]['distill_ms']
                                                  for r in rounds)
        results[name] = row
    return results


def order_problems(results: Dict[str, dict]) -> List[str]:
    """Where ``student alone <= base KD <= AKD`` fails beyond the rounds'
    spread (a sign that something other than the work is being timed)."""
    base = results['base KD']['ratios']
    problems = []
    if len(base) < 2:  # one round gives no spread to judge by
        return problems
    for name, row in results.items():
        if name == 'student alone' and min(row['ratios']) > max(base):
            problems.append(f'{name} slower than base KD in every round')
        if name.startswith('AKD') and max(row['ratios']) < min(base):
            problems.append(f'{name} faster than base KD in every round')
    return problems


def report(results: Dict[str, dict], args) -> None:
    device = torch.cuda.get_device_name() if args.device.startswith('cuda') \
        else f'CPU ({torch.get_num_threads()} threads)'
    denormals = '' if not args.device == 'cpu' else (
        ', subnormals kept' if args.keep_denormals else
        ', subnormals flushed')
    print(f'\n{args.config}\n{device}, torch {torch.__version__}, batch '
          f'{args.batch_size}, {args.size[0]}x{args.size[1]}, '
          f'{args.num_avatars} Avatar(s), statistics every '
          f"{args.log_interval or 1} step(s), "
          f"{'fp16 autocast' if args.amp else 'fp32'}{denormals}; "
          f'{args.rounds} interleaved rounds of {args.iters} steps after '
          f'{args.warmup} warm-up; times: median over rounds of each '
          "round's median; ratio: median [min, max] over rounds\n")
    base = results['base KD']
    mem = 'step_mem_gib' in base
    print('| variant | train step (ms) | vs base KD | distill losses fwd '
          '(ms) | distill vs base |' +
          (' step memory (GiB) | memory vs base |' if mem else '') +
          '\n|---|---|---|---|---|' + ('---|---|' if mem else ''))
    for name, row in results.items():
        distill = f"{row['distill_ms']:.1f}" if 'distill_ms' in row else '—'
        distill_ratio = f"x{row['distill_ms'] / base['distill_ms']:.2f}" \
            if 'distill_ms' in row else '—'
        ratio = f"x{row['ratio']:.3f} [{min(row['ratios']):.3f}, " \
            f"{max(row['ratios']):.3f}]"
        print(f"| {name} | {row['step_ms']:.1f} | {ratio} | {distill} | "
              f'{distill_ratio} |' +
              (f" {row['step_mem_gib']:.2f} | "
               f"x{row['step_mem_gib'] / base['step_mem_gib']:.3f} |"
               if mem else ''))
    for problem in order_problems(results):
        print(f'WARNING: {problem}: the timings are not measuring the work '
              'alone (load from other processes? subnormals?)')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, device=device,
                           args=vars(args), results=results), f, indent=2)


if __name__ == '__main__':
    main()
