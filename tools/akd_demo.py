"""The demo: distil a real student on real data, with and without Avatars.

On Digit Scenes (scenes of scikit-learn's real handwritten digits, generated
here, no download), for detection (RetinaNet, mAP) and segmentation (PSPNet,
mIoU): generate the data if missing, train the teacher (or reuse it), then
train the student alone, with a base KD loss and with the same loss plus
Avatars; evaluate each, print a table (metric and time per iteration) and
plot the validation curves.

Examples::

    python tools/akd_demo.py                 # the demo (what `make demo` runs)
    python tools/akd_demo.py --quick         # a first look, a few minutes
    python tools/akd_demo.py --study         # the README's study: more
                                             # methods, seeds 0 1 2, 900
                                             # student iterations
    python tools/akd_demo.py --ablation      # AKD's settings, seeds 0 1 2
    python tools/akd_demo.py --tasks det --methods 'no KD' 'CWD + AKD'

The console shows one line per run, with an estimate of the time left, and
the table at the end; each run's full output (mmengine's log, evaluation
tables, warnings) goes to ``console.log`` in its work dir (``--verbose``
prints it as well). Unless ``OMP_NUM_THREADS`` is set, torch runs one
intra-op thread (see the README, "CPU threads").
"""
import argparse
import contextlib
import importlib.util
import json
import logging
import math
import os
import os.path as osp
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, TextIO, Tuple

# setuptools >= 67.5 warns when pkg_resources is imported, and mmengine's
# package_utils re-imports (reloads) it on each installed-package check: a
# dozen identical warnings per run. Only that message is silenced.
warnings.filterwarnings(
    'ignore',
    message='pkg_resources is deprecated as an API',
    category=UserWarning)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs', 'digit_scenes')


@dataclass
class Task:
    """One dense-prediction task of the demo and its configs."""
    name: str
    metric: str  # key of the validation metric in mmengine's log
    metric_label: str
    teacher: str
    # CocoMetric logs nothing when no box passes the score threshold.
    no_metric_means_zero: bool
    # Run-to-run noise measured in the README's 3-seed study (300 iters).
    study_noise: str
    methods: Dict[str, tuple] = field(default_factory=dict)

    def __post_init__(self):
        self.methods.update(_akd_variants(self.methods['CWD + AKD'][0]))

    @property
    def study(self) -> List[str]:
        """The methods of ``--study`` that this task has."""
        return [m for m in STUDY_METHODS if m in self.methods]

    @property
    def ablation(self) -> List[str]:
        """The AKD variants of ``--ablation``."""
        return list(ABLATION_METHODS)


def _cfg(name: str) -> str:
    return osp.join(CONFIGS, name)


def _akd_variants(akd_config: str) -> Dict[str, tuple]:
    """CWD + AKD with one setting changed from the release's.

    More Avatars, a weaker and a stronger dropout, the Avatars without the
    uncertainty factor (which, dividing student and Avatar by sigma, also
    changes the temperature of CWD's softmax), the released code's own form
    of the factor, and sigma from its closed form instead of the one drawn
    Avatar.
    """
    generator = 'model.distiller.avatar_generator'
    return {
        'CWD + AKD (N=4)': (akd_config, {f'{generator}.num_avatars': 4}),
        'CWD + AKD (p=0.05)': (akd_config, {
            f'{generator}.perturbation': dict(type='ElementDropout', p=0.05)
        }),
        'CWD + AKD (p=0.3)': (akd_config, {
            f'{generator}.perturbation': dict(type='ElementDropout', p=0.3)
        }),
        'CWD + AKD (no sigma)': (akd_config, {
            'model.distiller.uncertainty': 'none'
        }),
        'CWD + AKD (release)': (akd_config, {
            'model.distiller.uncertainty': 'release'
        }),
        'CWD + AKD (expected sigma)': (akd_config, {
            'model.distiller.sigma': 'expected'
        }),
    }


ABLATION_METHODS = ['CWD + AKD (N=4)', 'CWD + AKD (p=0.05)',
                    'CWD + AKD (p=0.3)', 'CWD + AKD (no sigma)']
# Each '+ AKD' method is compared, seed by seed, with its base loss.
STUDY_METHODS = [
    'no KD', 'CWD', 'CWD + AKD', 'CWD + AKD (no sigma)',
    'CWD + AKD (release)', 'CWD + AKD (expected sigma)', 'CWD + AKD (p=0.3)',
    'FGD', 'FGD + AKD'
]


TASKS = {
    'det':
    Task(
        'det',
        'coco/bbox_mAP',
        'mAP',
        _cfg('retinanet_r18-w32_fpn_1500i_digit-scenes.py'),
        True,
        'std 0.008-0.026 mAP',
        methods={
            'no KD': (_cfg('retinanet_r18-w8_fpn_1500i_digit-scenes.py'),
                      {}),
            'CWD': (_cfg('cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                         'digit-scenes.py'), {}),
            'CWD + AKD': (_cfg('akd-cwd_fpn_retina-r18w32_retina-r18w8_'
                               '1500i_digit-scenes.py'), {}),
            'CWD + AKD (official)':
            (_cfg('akd-cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                  'digit-scenes.py'), {
                      'model.distiller.uncertainty': 'official'
                  }),
            'FGD': (_cfg('fgd_fpn_retina-r18w32_retina-r18w8_1500i_'
                         'digit-scenes.py'), {}),
            'FGD + AKD': (_cfg('akd-fgd_fpn_retina-r18w32_retina-r18w8_'
                               '1500i_digit-scenes.py'), {}),
        }),
    'seg':
    Task(
        'seg',
        'mIoU',
        'mIoU',
        _cfg('pspnet_r18-w32-d4_1500i_digit-scenes.py'),
        False,
        'std 1.6-9.1 mIoU',
        methods={
            'no KD': (_cfg('pspnet_r18-w8-d4_1500i_digit-scenes.py'), {}),
            'CWD': (_cfg('cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_'
                         'digit-scenes.py'), {}),
            'CWD + AKD': (_cfg('akd-cwd_logits_pspnet-r18w32_pspnet-r18w8_'
                               '1500i_digit-scenes.py'), {}),
            'CWD + AKD (official)':
            (_cfg('akd-cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_'
                  'digit-scenes.py'), {
                      'model.distiller.uncertainty': 'official'
                  }),
        }),
}
DEMO_METHODS = ['no KD', 'CWD', 'CWD + AKD']
# The CPU budget of the demo and the study (the configs' own schedule, 1500
# iterations, is for tools/train.py): every student gets the same budget.
TEACHER_ITERS, STUDENT_ITERS = 600, 300
STUDY_STUDENT_ITERS = 900
QUICK_TEACHER_ITERS, QUICK_STUDENT_ITERS = 200, 100
DATA_ROOT = osp.join(ROOT, 'data', 'digit_scenes')
# Wall seconds per iteration (validation included) on a quiet 2-core CPU,
# from the README's `make demo` timing: the shape of the time-left estimate,
# which is rescaled by the speed of the runs trained so far.
PRIOR_S_PER_ITER = {
    ('det', 'teacher'): 0.20,
    ('det', 'student'): 0.13,
    ('seg', 'teacher'): 0.16,
    ('seg', 'student'): 0.08,
}
#: Each run's full output, in its work dir.
RUN_LOG = 'console.log'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS),
                        default=list(TASKS))
    parser.add_argument('--methods', nargs='+', help='default: '
                        f'{DEMO_METHODS}; --study: all of each task')
    parser.add_argument('--seeds', nargs='+', type=int, help='student seeds '
                        '(default: 0; --study: 0 1 2)')
    parser.add_argument('--quick', action='store_true',
                        help='a first look: fewer scenes and iterations')
    parser.add_argument('--study', action='store_true',
                        help='the study\'s methods, seeds 0 1 2, '
                        f'{STUDY_STUDENT_ITERS} student iterations; the '
                        'table adds per-seed values and the paired '
                        'difference from the base loss')
    parser.add_argument('--ablation', action='store_true',
                        help='CWD, CWD + AKD and AKD with one setting '
                        'changed (N, p, no sigma), seeds 0 1 2')
    parser.add_argument('--iters', type=int,
                        help=f'student iterations (default: {STUDENT_ITERS},'
                        f' {QUICK_STUDENT_ITERS} with --quick, '
                        f'{STUDY_STUDENT_ITERS} with --study)')
    parser.add_argument('--teacher-iters', type=int,
                        help=f'teacher iterations (default: {TEACHER_ITERS},'
                        f' {QUICK_TEACHER_ITERS} with --quick)')
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs',
                                                       'akd_demo'))
    parser.add_argument('--data-root', default=DATA_ROOT)
    parser.add_argument('--num-scenes', nargs=2, type=int,
                        metavar=('TRAIN', 'VAL'),
                        help='scenes to generate when data is missing '
                        '(default: 1500 300, 400 100 with --quick)')
    parser.add_argument('--retrain-teacher', action='store_true')
    parser.add_argument('--verbose', action='store_true',
                        help='print each run\'s full output too (it always '
                        f'goes to {RUN_LOG} in the run\'s work dir)')
    parser.add_argument('--tensorboard', action='store_true',
                        help='also log each run to TensorBoard (mmengine\'s '
                        'TensorboardVisBackend; pip install tensorboard)')
    args = parser.parse_args(argv)
    if args.study and args.ablation:
        parser.error('--study and --ablation are two separate tables; '
                     'run them one after the other')
    known = {m for name in args.tasks for m in TASKS[name].methods}
    unknown = [m for m in args.methods or [] if m not in known]
    if unknown:
        parser.error(f'--methods: unknown {unknown} for tasks {args.tasks}; '
                     f'expected some of {sorted(known)}')
    if args.seeds is None:
        args.seeds = [0, 1, 2] if args.study or args.ablation else [0]
    if args.iters is None:
        args.iters = QUICK_STUDENT_ITERS if args.quick else (
            STUDY_STUDENT_ITERS if args.study else STUDENT_ITERS)
    if args.teacher_iters is None:
        args.teacher_iters = QUICK_TEACHER_ITERS if args.quick \
            else TEACHER_ITERS
    if args.quick and args.data_root == DATA_ROOT:
        args.data_root = DATA_ROOT + '_quick'
    return args


def log(msg: str, end: str = '\n') -> None:
    """Prints one console line of the demo (``end=''`` leaves it open)."""
    print(f'[akd_demo {time.strftime("%H:%M:%S")}] {msg}', end=end,
          flush=True)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f'{seconds:.0f} s'
    if seconds < 3600:
        return f'{seconds / 60:.1f} min'
    return f'{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min'


@dataclass
class PlannedRun:
    """A run the demo will make or reuse, for the time-left estimate."""
    task: str
    role: str  # 'teacher' or 'student'
    iters: int
    work_dir: str
    # Trained whatever is on disk (--retrain-teacher).
    fresh: bool = False

    @property
    def prior(self) -> float:
        """Its wall time on a quiet machine, in seconds."""
        return self.iters * PRIOR_S_PER_ITER[(self.task, self.role)]

    @property
    def done(self) -> bool:
        return not self.fresh and osp.exists(
            osp.join(self.work_dir, 'result.json'))


class Progress:
    """One console line per run: what it is, its result and the time left.

    The estimate is the quiet-machine wall time of the runs still to train,
    scaled by how fast the runs trained so far went on this machine.

    Args:
        plan (list[PlannedRun]): Every run, in order.
        verbose (bool): Runs print their output too; the line is split in
            two around it.
    """

    def __init__(self, plan: List[PlannedRun], verbose: bool) -> None:
        self.plan, self.verbose = plan, verbose
        self.count = 0
        self._prior = self._wall = 0.0
        self._started = 0.0

    def begin(self, text: str) -> None:
        self.count += 1
        self._started = time.time()
        run = self.plan[self.count - 1]
        log(f'{run.task} {self.count}/{len(self.plan)} {text} ',
            end='\n' if self.verbose else '')

    def end(self, text: str, trained: bool) -> None:
        wall = time.time() - self._started
        if trained:
            self._prior += self.plan[self.count - 1].prior
            self._wall += wall
            text = f'{text}, {_duration(wall)}'
        if self.verbose:
            log(f'-> {text}; {self.time_left()}')
        else:
            print(f'{text}; {self.time_left()}', flush=True)

    def fail(self, log_path: str) -> None:
        print(f'failed; its full output: {log_path}', flush=True)

    def time_left(self) -> str:
        if self.count >= len(self.plan):
            return 'all runs done'
        remaining = sum(run.prior for run in self.plan[self.count:]
                        if not run.done)
        if remaining == 0:
            return 'the other runs are on disk already'
        speed = self._wall / self._prior if self._prior else 1.0
        return f'about {_duration(remaining * speed)} left'


def ensure_data(args) -> None:
    """Generates Digit Scenes under ``args.data_root`` unless already there."""
    from mmakd.demo import create_digit_scenes
    if osp.exists(osp.join(args.data_root, 'meta.json')):
        return
    num_train, num_val = args.num_scenes or ((400, 100) if args.quick else
                                             (1500, 300))
    log(f'generating Digit Scenes ({num_train} train, {num_val} val scenes)'
        f' into {args.data_root}')
    create_digit_scenes(args.data_root, num_train, num_val)


def _schedule_overrides(cfg, iters: int) -> dict:
    """Shrinks an iteration-based schedule to ``iters``, keeping its shape."""
    full = cfg.train_cfg.max_iters
    overrides = {
        'train_cfg.max_iters': iters,
        # Three validations draw the curve, the last at the end of training
        # (a val_interval that does not divide `iters` adds one more there,
        # one iteration after the third).
        'train_cfg.val_interval': max(1, math.ceil(iters / 3)),
        'default_hooks.logger.log_metric_by_epoch': False,
        'default_hooks.checkpoint.interval': iters,
        'default_hooks.logger.interval': max(1, min(50, iters // 10)),
        'log_processor.window_size': max(1, min(50, iters // 10)),
    }
    schedulers = []
    for sched in cfg.param_scheduler:
        sched = dict(sched)
        begin = sched.get('begin', 0) * iters // full
        for key in ('end', 'T_max'):
            if key in sched:
                sched[key] = max(begin + 1, sched[key] * iters // full)
        sched['begin'] = begin
        schedulers.append(sched)
    overrides['param_scheduler'] = schedulers
    return overrides


class _Tee:
    """A text stream that writes to several streams."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _run_output(path: str, verbose: bool) -> Iterator[None]:
    """Sends what a run prints to ``path`` (and the console if verbose).

    Python's ``sys.stdout`` and ``sys.stderr`` are redirected, so
    mmengine's logger (whose console handler is made during the run),
    evaluation tables and warnings land in the file. The handlers made for
    the file are detached afterwards.
    """
    with open(path, 'a') as file:
        out = _Tee(file, sys.stdout) if verbose else file
        err = _Tee(file, sys.stderr) if verbose else file
        try:
            with contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(err):
                yield
        finally:
            _detach_handlers((out, err))


def _detach_handlers(streams: Tuple) -> None:
    """Removes the console handlers of mmengine's loggers on ``streams``."""
    from mmengine.logging import MMLogger
    for logger in list(getattr(MMLogger, '_instance_dict', {}).values()):
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler and any(
                    handler.stream is s for s in streams):
                logger.removeHandler(handler)


def train(config: str,
          work_dir: str,
          overrides: dict,
          data_root: str,
          seed: int,
          verbose: bool = False,
          tensorboard: bool = False) -> str:
    """Trains one config with mmengine's Runner; returns its log directory.

    Everything the run prints goes to ``console.log`` in ``work_dir`` (and
    to the console too with ``verbose``).
    """
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(overrides)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    # Several Runners share this process: mmengine's visualizer and logger
    # are global instances found by name, so each run needs its own name.
    cfg.experiment_name = \
        f'{osp.basename(work_dir)}_{time.strftime("%Y%m%d_%H%M%S")}'
    cfg.visualizer.name = cfg.experiment_name
    if tensorboard:
        cfg.visualizer.vis_backends = list(cfg.visualizer.vis_backends) + [
            dict(type='TensorboardVisBackend')
        ]
    _set_data_root(cfg, data_root)
    os.makedirs(work_dir, exist_ok=True)
    with _run_output(osp.join(work_dir, RUN_LOG), verbose):
        runner = Runner.from_cfg(cfg)
        runner.train()
    return runner.log_dir


def _set_data_root(cfg, data_root: str) -> None:
    """Points every dataloader and evaluator of ``cfg`` to ``data_root``."""
    root = data_root.rstrip('/') + '/'
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            loader.dataset.data_root = root
        evaluator = cfg.get(f'{split}_evaluator')
        if evaluator and 'ann_file' in evaluator:
            evaluator.ann_file = root + osp.relpath(
                evaluator.ann_file, cfg.data_root)


def read_scalars(log_dir: str) -> List[dict]:
    """The records of mmengine's ``LocalVisBackend`` (its scalars.json)."""
    path = osp.join(log_dir, 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarise(records: List[dict], task: Task) -> dict:
    """Final metric, validation curve and median seconds per iteration.

    The curve has one point per validation (the last logged at a step).

    Raises:
        RuntimeError: no validation logged ``task.metric``, where that
            cannot mean a score of 0.
    """
    curve = dict((r['step'], r[task.metric]) for r in records
                 if task.metric in r)
    curve = sorted(curve.items())
    times = [r['time'] for r in records if 'time' in r and 'loss' in r]
    result = dict(
        metric=curve[-1][1] if curve else 0.0,
        curve=curve,
        s_per_iter=statistics.median(times) if times else float('nan'))
    if not curve:
        if not task.no_metric_means_zero:
            raise RuntimeError(f'{task.name}: no validation logged '
                               f'{task.metric!r}; cannot report a result')
        result['note'] = (f'no {task.metric_label} logged: no detection '
                          'passed the score threshold, counted as 0')
    return result


def _result_text(task: Task, result: dict) -> str:
    text = f'{task.metric_label} {result["metric"]:.3f}, ' \
           f'{result["s_per_iter"]:.3f} s/iter'
    return f'{text} ({result["note"]})' if result.get('note') else text


def run_teacher(task: Task, args, progress: Progress) -> dict:
    """Trains the task's teacher, or reuses it; returns its summary."""
    from mmengine.config import Config
    work_dir = _teacher_dir(task, args)
    provenance = dict(data_root=osp.abspath(args.data_root))
    cached = None if args.retrain_teacher else _cached(work_dir, provenance)
    if cached:
        progress.begin(f'teacher: reusing {work_dir}:')
        progress.end(_result_text(task, cached), trained=False)
        return cached
    progress.begin(f'teacher ({osp.basename(task.teacher)}): training '
                   f'{args.teacher_iters} iterations{_again(work_dir)} ...')
    cfg = Config.fromfile(task.teacher)
    try:
        log_dir = train(task.teacher, work_dir,
                        _schedule_overrides(cfg, args.teacher_iters),
                        args.data_root, 0, args.verbose, args.tensorboard)
    except BaseException:
        progress.fail(osp.join(work_dir, RUN_LOG))
        raise
    result = summarise(read_scalars(log_dir), task)
    result['checkpoint'] = _last_checkpoint(work_dir)
    _save(work_dir, result, provenance)
    progress.end(_result_text(task, result), trained=True)
    return result


def _again(work_dir: str) -> str:
    """Why a run on disk is not reused, or ''."""
    if osp.exists(osp.join(work_dir, 'result.json')):
        return ' (again: other data or teacher)'
    return ''


def _teacher_dir(task: Task, args) -> str:
    """The teacher's work_dir; its students' work_dirs lie inside."""
    tag = '_quick' if args.quick else ''
    return osp.join(args.work_dir, task.name,
                    f'teacher_{args.teacher_iters}i{tag}')


def _student_dir(task: Task, method: str, seed: int, args) -> str:
    slug = method.lower().replace(' + ', '+').replace(' ', '_').replace(
        '(', '').replace(')', '')
    return osp.join(
        _teacher_dir(task, args), f'{slug}_{args.iters}i_seed{seed}')


def _cached(work_dir: str, provenance: dict) -> Optional[dict]:
    """The summary of a finished run in ``work_dir``, if there is one that
    was made from the same data (and teacher) as ``provenance`` says."""
    path = osp.join(work_dir, 'result.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        result = json.load(f)
    if result.get('provenance') != provenance:
        return None
    result['work_dir'] = work_dir
    return result


def _save(work_dir: str, result: dict, provenance: dict) -> None:
    result['work_dir'] = work_dir
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(dict(result, provenance=provenance), f)


def _last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def run_student(task: Task, method: str, seed: int, teacher_ckpt: str,
                args, progress: Progress) -> dict:
    """Trains one student variant, or reuses it; returns its summary."""
    from mmengine.config import Config
    config, extra = task.methods[method]
    work_dir = _student_dir(task, method, seed, args)
    # The teacher's file time: a retrained teacher invalidates its students.
    provenance = dict(
        data_root=osp.abspath(args.data_root),
        teacher=f'{teacher_ckpt}@{osp.getmtime(teacher_ckpt):.0f}')
    cached = _cached(work_dir, provenance)
    if cached:
        progress.begin(f'{method}, seed {seed}: reusing {work_dir}:')
        progress.end(_result_text(task, cached), trained=False)
        return cached
    progress.begin(f'{method}, seed {seed}: training {args.iters} '
                   f'iterations{_again(work_dir)} ...')
    cfg = Config.fromfile(config)
    overrides = dict(extra, **_schedule_overrides(cfg, args.iters))
    if 'teacher_ckpt' in cfg.model:
        overrides['model.teacher_ckpt'] = teacher_ckpt
    if 'teacher_ckpt' in cfg:  # the configs' variable, for a truthful dump
        overrides['teacher_ckpt'] = teacher_ckpt
    try:
        log_dir = train(config, work_dir, overrides, args.data_root, seed,
                        args.verbose, args.tensorboard)
    except BaseException:
        progress.fail(osp.join(work_dir, RUN_LOG))
        raise
    result = summarise(read_scalars(log_dir), task)
    _save(work_dir, result, provenance)
    progress.end(_result_text(task, result), trained=True)
    return result


def base_method(method: str) -> Optional[str]:
    """The base loss that a ``'<base> + AKD ...'`` method adds Avatars to."""
    base, plus, _ = method.partition(' + AKD')
    return base if plus else None


def _mean_std(values: List[float], signed: bool = False) -> str:
    fmt = '{:+.3f}' if signed else '{:.3f}'
    text = fmt.format(statistics.mean(values))
    return text + (f' ± {statistics.stdev(values):.3f}'
                   if len(values) > 1 else '')


def table(task: Task, teacher: dict, results: Dict[str, List[dict]]) -> str:
    """A markdown table of the task's results, mean and std over seeds.

    With several seeds, it also gives each seed's value and, for a
    ``'+ AKD'`` method whose base loss ran too, the paired difference from
    the base loss (seed by seed, the same seeds in the same order) and on
    how many seeds it was above. Below it, one line on what the number of
    seeds allows to read from it.
    """
    seeds = max(len(r) for r in results.values())
    if seeds == 1:
        lines = [f'| {task.name} | {task.metric_label} | s/iter | runs |',
                 '|---|---|---|---|',
                 f'| teacher | {teacher["metric"]:.3f} | '
                 f'{teacher["s_per_iter"]:.3f} | 1 |']
    else:
        lines = [f'| {task.name} | {task.metric_label} (mean ± std) | '
                 'per seed | minus base, paired (mean ± std) | above base '
                 '| s/iter | runs |', '|---|---|---|---|---|---|---|',
                 f'| teacher | {teacher["metric"]:.3f} | | | | '
                 f'{teacher["s_per_iter"]:.3f} | 1 |']
    for method, runs in results.items():
        values = [r['metric'] for r in runs]
        speed = statistics.mean(r['s_per_iter'] for r in runs)
        if seeds == 1:
            lines.append(f'| {method} | {values[0]:.3f} | {speed:.3f} | '
                         f'{len(runs)} |')
            continue
        per_seed = ', '.join(f'{v:.3f}' for v in values)
        paired = above = ''
        base = results.get(base_method(method))
        if base and len(base) == len(runs):
            diffs = [v - b['metric'] for v, b in zip(values, base)]
            paired = _mean_std(diffs, signed=True)
            above = f'{sum(d > 0 for d in diffs)}/{len(diffs)}'
        lines.append(f'| {method} | {_mean_std(values)} | {per_seed} | '
                     f'{paired} | {above} | {speed:.3f} | {len(runs)} |')
    if seeds == 1:
        lines.append(
            f'\n{task.name}: one seed per method. Differences between the '
            'students are within run-to-run noise unless clearly larger '
            f"than the README study's ({task.study_noise} over 3 seeds at "
            '300 iterations); `--seeds 0 1 2` gives mean ± std.')
    else:
        lines.append(f'\n{task.name}: {seeds} seeds per method, mean ± '
                     'standard deviation over seeds; a "+ AKD" method minus '
                     'its base loss, seed by seed.')
    return '\n'.join(lines)


def _mean_curve(runs: List[dict], task: Task
                ) -> Tuple[List[int], List[float], List[float]]:
    """Steps, mean and standard deviation over seeds of the runs' curves.

    A validation that logged no metric counts as 0 where that is what it
    means (no detection passed the threshold); elsewhere the run is left
    out.
    """
    curves = [dict(map(tuple, r['curve'])) for r in runs]
    steps = sorted({step for curve in curves for step in curve})
    if not task.no_metric_means_zero:
        curves = [c for c in curves if c]
    means, stds = [], []
    for step in steps:
        values = [c.get(step, 0.0) for c in curves]
        means.append(statistics.mean(values) if values else 0.0)
        stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
    return steps, means, stds


def plot(all_results: Dict[str, dict], path: str) -> None:
    """Validation curves, one panel per task, all on the same axes.

    Each student method is the mean over its seeds at each validation (one
    point per validation), with a band of ± one standard deviation when
    there are several seeds; the teacher's final value is a dashed line.
    The y-axis starts at 0, so that run-to-run noise does not look like a
    gap.

    Args:
        all_results (dict): Per task name, ``teacher`` (its summary) and
            ``results`` (per method, the summaries of its seeds).
        path (str): The PNG to write.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(all_results), squeeze=False,
                             figsize=(6 * len(all_results), 4.4))
    for ax, (name, entry) in zip(axes[0], all_results.items()):
        task, teacher = TASKS[name], entry['teacher']
        seeds = max(len(runs) for runs in entry['results'].values())
        top = teacher['metric']
        for method, runs in entry['results'].items():
            steps, means, stds = _mean_curve(runs, task)
            if not steps:
                continue
            (line, ) = ax.plot(steps, means, marker='o', label=method)
            if len(runs) > 1:
                ax.fill_between(
                    steps, [m - s for m, s in zip(means, stds)],
                    [m + s for m, s in zip(means, stds)],
                    color=line.get_color(), alpha=0.2, linewidth=0)
            top = max([top] + [m + s for m, s in zip(means, stds)])
        ax.axhline(teacher['metric'], color='black', linestyle='--',
                   label='teacher (final)')
        ax.set_ylim(0, 1.1 * top if top > 0 else 1)
        ax.set_title(
            f'Digit Scenes {name}: ' +
            ('1 seed each: differences may be run-to-run noise'
             if seeds == 1 else
             f'mean ± std over {seeds} seeds'))
        ax.set_xlabel('student iteration')
        ax.set_ylabel(f'validation {task.metric_label}')
        ax.grid(alpha=0.3)
        ax.legend(loc='best', fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _load_tool(relative: str):
    """Imports a script of ``tools/`` as a module."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), relative)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plot_stats(all_results: Dict[str, dict], suffix: str,
               work_dir: str) -> List[str]:
    """Distill losses and AKD statistics of each task's students (seed 0
    of every method that distils), with ``plot_akd_stats.py``.

    Returns:
        list[str]: The PNGs written.
    """
    tool = _load_tool(osp.join('analysis_tools', 'plot_akd_stats.py'))
    paths = []
    for name, entry in all_results.items():
        runs = [(method, runs[0]['work_dir'])
                for method, runs in entry['results'].items()
                if method != 'no KD' and runs[0].get('work_dir')]
        if not runs:
            continue
        path = osp.join(work_dir, f'akd_stats_{name}{suffix}.png')
        try:
            tool.plot_stats([d for _, d in runs], path,
                            labels=[m for m, _ in runs],
                            title=f'Digit Scenes {name}')
        except tool.NoStatistics as err:
            log(f'{name}: no statistics plot: {err}')
            continue
        paths.append(path)
    return paths


def _default_methods(task: Task, args) -> List[str]:
    if args.study:
        return task.study
    if args.ablation:
        return ['CWD', 'CWD + AKD'] + task.ablation
    return DEMO_METHODS


def _plan(tasks: List[Tuple[Task, List[str]]], args) -> List[PlannedRun]:
    """Every run of the demo, in the order they run (seed-major)."""
    plan = []
    for task, methods in tasks:
        plan.append(
            PlannedRun(task.name, 'teacher', args.teacher_iters,
                       _teacher_dir(task, args), args.retrain_teacher))
        for seed in args.seeds:
            for method in methods:
                plan.append(
                    PlannedRun(task.name, 'student', args.iters,
                               _student_dir(task, method, seed, args),
                               args.retrain_teacher))
    return plan


def main(argv=None) -> Dict[str, str]:
    args = parse_args(argv)
    start = time.time()
    import torch

    from mmakd.utils import default_cpu_threads
    if default_cpu_threads() is None:
        log(f'{torch.get_num_threads()} intra-op thread(s), as '
            'OMP_NUM_THREADS says')
    else:
        log('1 intra-op thread (set OMP_NUM_THREADS to choose); each run\'s '
            f'full output goes to {RUN_LOG} in its work dir')
    ensure_data(args)
    tasks = []
    for name in args.tasks:
        task = TASKS[name]
        methods = args.methods or _default_methods(task, args)
        # A method of the other task only (e.g. FGD) is skipped here.
        methods = [m for m in methods if m in task.methods]
        if not methods:
            log(f'{name}: none of the chosen methods applies; skipped')
            continue
        tasks.append((task, methods))
    progress = Progress(_plan(tasks, args), args.verbose)
    tables, all_results = {}, {}
    for task, methods in tasks:
        teacher = run_teacher(task, args, progress)
        # Seed-major: stopped early, every method has the same seeds done.
        results = {method: [] for method in methods}
        for seed in args.seeds:
            for method in methods:
                results[method].append(
                    run_student(task, method, seed, teacher['checkpoint'],
                                args, progress))
        tables[task.name] = table(task, teacher, results)
        all_results[task.name] = dict(teacher=teacher, results=results)
    os.makedirs(args.work_dir, exist_ok=True)
    suffix = '_quick' if args.quick else ('_study' if args.study else (
        '_ablation' if args.ablation else ''))
    plot_path = osp.join(args.work_dir, f'curves{suffix}.png')
    plot(all_results, plot_path)
    stats_paths = plot_stats(all_results, suffix, args.work_dir)
    report = '\n\n'.join(tables.values())
    with open(osp.join(args.work_dir, f'results{suffix}.md'), 'w') as f:
        f.write(report + '\n')
    print('\n' + report + '\n')
    log(f'done in {(time.time() - start) / 60:.1f} min; curves: {plot_path}'
        + ''.join(f'; statistics: {p}' for p in stats_paths))
    return tables


if __name__ == '__main__':
    sys.path.insert(0, ROOT)
    import mmakd  # noqa: F401,E402  (compat fixes, registry)
    main()
