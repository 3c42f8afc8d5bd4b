"""Time the demo's training with torch's default threads and with one.

Trains the demo's detection student (CWD + AKD, Digit Scenes, batch 16)
for a few iterations in a fresh process per setting: torch's default
intra-op threads (one per core) and ``OMP_NUM_THREADS=1``, on the machine as
it is, next to a Python busy loop, and next to a second torch process that
multiplies matrices with the default threads. Prints a markdown table of
seconds per iteration (median and mean of mmengine's logged ``time``,
without the first 5 iterations) and the load average around each run.
DataLoader workers are not a factor: the demo's configs use none
(``num_workers=0``), and torch gives each worker one thread anyway.

Example, from the repository root with it on ``PYTHONPATH``
(projects/digit_scenes/README.md)::

    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    python projects/digit_scenes/tools/akd_demo.py --tasks det \
        --methods 'CWD + AKD'  # the teacher
    python projects/digit_scenes/tools/cpu_threads.py --iters 30
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from projects.digit_scenes.digit_scenes import demo, train_process
from projects.digit_scenes.digit_scenes.paths import REPO_ROOT

TEACHER = osp.join(REPO_ROOT, 'work_dirs', 'akd_demo', 'det',
                   'teacher_600i', 'iter_600.pth')
DATA_ROOT = demo.DATA_ROOT
CONTENTION = {
    'none': None,
    'busy loop': 'while True: pass',
    'torch job': ('import torch\na = torch.randn(512, 512)\n'
                  'while True:\n    a = (a @ a).tanh()'),
}
SKIP = 5  # warm-up iterations left out of the statistics


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('--iters', type=int, default=30)
    parser.add_argument('--teacher-ckpt', default=TEACHER,
                        help='the demo\'s detection teacher')
    parser.add_argument('--data-root', default=DATA_ROOT)
    parser.add_argument('--contention', nargs='+', choices=list(CONTENTION),
                        default=list(CONTENTION))
    parser.add_argument('--child', help=argparse.SUPPRESS)  # a work dir
    args = parser.parse_args(argv)
    if args.iters <= SKIP:
        parser.error(f'--iters must be > {SKIP}, but got {args.iters}')
    for path in (args.teacher_ckpt, args.data_root):
        if not osp.exists(path):
            parser.error(f'{path} does not exist; run the demo first: '
                         'python projects/digit_scenes/tools/akd_demo.py '
                         "--tasks det --methods 'CWD + AKD'")
    return args


def train_child(args: argparse.Namespace) -> None:
    """In the child process: train in this process (the threads are this
    process's own), print the logged times as JSON."""
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmakd  # noqa: F401
    config, extra = demo.TASKS['det'].methods['CWD + AKD']
    cfg = Config.fromfile(config)
    overrides = dict(extra, **demo._schedule_overrides(cfg, args.iters))
    overrides.update(demo._data_root_overrides(cfg, args.data_root))
    overrides.update({
        'train_cfg.val_begin': 10**9,  # no validation
        'default_hooks.logger.interval': 1,
        'log_processor.window_size': 1,
        'model.teacher_ckpt': args.teacher_ckpt,
        'teacher_ckpt': args.teacher_ckpt,
        'randomness.seed': 0,
    })
    cfg.merge_from_dict(overrides)
    cfg.work_dir = args.child
    runner = Runner.from_cfg(cfg)
    runner.train()
    times = [
        r['time'] for r in train_process.read_scalars(
            osp.join(args.child, runner.timestamp))
        if 'time' in r and 'loss' in r
    ]
    print(json.dumps(dict(threads=torch.get_num_threads(), times=times)))


def measure(args: argparse.Namespace, threads: Optional[str],
            contention: Optional[str]) -> Dict:
    """One run in a fresh process; the contention runs beside it."""
    default = {k: v for k, v in os.environ.items()
               if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')}
    env = dict(default)
    if threads:
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    busy = None
    if contention:  # with torch's default threads
        busy = subprocess.Popen([sys.executable, '-c', contention],
                                env=default)
        time.sleep(3)
    load = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory() as work_dir:
            proc = subprocess.run(
                [sys.executable, __file__, '--child', work_dir, '--iters',
                 str(args.iters), '--teacher-ckpt', args.teacher_ckpt,
                 '--data-root', args.data_root],
                env=env, capture_output=True, text=True, timeout=1800)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    if proc.returncode != 0:
        raise RuntimeError(f'the timed run failed:\n{proc.stderr[-3000:]}')
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    times = result['times'][SKIP:]
    return dict(threads=result['threads'], median=statistics.median(times),
                mean=statistics.mean(times), max=max(times),
                load=(load, os.getloadavg()[0]))


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Times the runs and prints their table (in a child: trains one).

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    args = parse_args(argv)
    if args.child:
        train_child(args)
        return
    lines: List[str] = [
        '| contention | threads | s/iter median | mean | max | load avg '
        'before -> after |', '|---|---|---|---|---|---|'
    ]
    for name in args.contention:
        for threads in (None, '1'):
            row = measure(args, threads, CONTENTION[name])
            label = f'{row["threads"]} ' + (
                '(default)' if threads is None else '(OMP_NUM_THREADS=1)')
            lines.append(
                f'| {name} | {label} | {row["median"]:.3f} | '
                f'{row["mean"]:.3f} | {row["max"]:.3f} | '
                f'{row["load"][0]:.2f} -> {row["load"][1]:.2f} |')
            print(lines[-1], flush=True)
    print('\n' + '\n'.join(lines))


if __name__ == '__main__':
    main()
