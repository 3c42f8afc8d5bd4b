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

Each run is its own ``tools/train.py`` process. The console shows one line
per run, with an estimate of the time left, and the table at the end; each
run's command (its first line) and full output (mmengine's log, evaluation
tables, warnings) go to ``console.log`` in its work dir (``--verbose``
prints the output as well). A run that fails is reported with that log, the
other runs go on, and the demo exits with status 1. Unless
``OMP_NUM_THREADS`` is set, tools/train.py runs torch with one intra-op
thread (see the README, "CPU threads").
"""
import argparse
import importlib.util
import json
import math
import os
import os.path as osp
import shlex
import statistics
import subprocess
import sys
import time
import types
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

# setuptools >= 67.5 warns when pkg_resources is imported, and mmengine's
# package_utils re-imports (reloads) it on each installed-package check: a
# dozen identical warnings per run. Only that message is silenced, here and
# (``-W``) in each run.
PKG_RESOURCES_WARNING = 'pkg_resources is deprecated as an API'
warnings.filterwarnings(
    'ignore', message=PKG_RESOURCES_WARNING, category=UserWarning)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs', 'digit_scenes')
TRAIN_PY = osp.join(ROOT, 'tools', 'train.py')
#: Python's options for each run: unbuffered (the log keeps the order of
#: stdout and stderr), and the warning filter above.
PYTHON_OPTIONS = ['-u', '-W', f'ignore:{PKG_RESOURCES_WARNING}:UserWarning']


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
#: Each run's command and full output, in its work dir.
RUN_LOG = 'console.log'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parses the demo's command line and fills in the defaults it implies.

    Args:
        argv: The arguments; ``sys.argv[1:]`` when None.
    """
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
    """``seconds`` in s, min or h and min."""
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
    def done(self) -> bool:
        """Whether a finished run is on disk, to be reused."""
        return not self.fresh and osp.exists(
            osp.join(self.work_dir, 'result.json'))


class Progress:
    """One console line per run: what it is, its result and the time left.

    The time left is that of the runs still to train, each at the seconds
    per iteration (wall time, validation included) of the runs trained so
    far in this invocation with the same task and role, else of all of
    them.

    Args:
        plan: Every run, in order.
        verbose: Runs print their output too; the line is split in two
            around it.
    """

    def __init__(self, plan: List[PlannedRun], verbose: bool) -> None:
        self.plan, self.verbose = plan, verbose
        self.count = 0
        #: The logs of the runs that failed.
        self.failed: List[str] = []
        self._trained: List[Tuple[PlannedRun, float]] = []
        self._started = 0.0

    def begin(self, text: str) -> None:
        """Opens the line of the plan's next run."""
        self.count += 1
        self._started = time.time()
        run = self.plan[self.count - 1]
        log(f'{run.task} {self.count}/{len(self.plan)} {text} ',
            end='\n' if self.verbose else '')

    def end(self, text: str, trained: bool) -> None:
        """Closes the line with the run's result (and time, if trained)."""
        if trained:
            wall = time.time() - self._started
            self._trained.append((self.plan[self.count - 1], wall))
            text = f'{text}, {_duration(wall)}'
        self._close(text)

    def fail(self, reason: str, log_path: str) -> None:
        """Closes the line of a run that failed, with where its log is."""
        self.failed.append(log_path)
        self._close(f'failed ({reason}); its full output: {log_path}')

    def skip(self, count: int, why: str) -> None:
        """Leaves out the plan's next ``count`` runs, with a line why."""
        self.count += count
        log(f'{why}; {self.time_left()}')

    def _close(self, text: str) -> None:
        if self.verbose:
            log(f'-> {text}; {self.time_left()}')
        else:
            print(f'{text}; {self.time_left()}', flush=True)

    def time_left(self) -> str:
        """The estimate of the time the runs still to train will take."""
        if self.count >= len(self.plan):
            return 'all runs done'
        todo = [run for run in self.plan[self.count:] if not run.done]
        if not todo:
            return 'the other runs are on disk already'
        if not self._trained:
            return 'no time estimate yet'
        seconds = sum(run.iters * self._s_per_iter(run) for run in todo)
        return f'about {_duration(seconds)} left'

    def _s_per_iter(self, run: PlannedRun) -> float:
        same = [(r, wall) for r, wall in self._trained
                if (r.task, r.role) == (run.task, run.role)]
        measured = same or self._trained
        return sum(wall for _, wall in measured) / sum(
            r.iters for r, _ in measured)


def ensure_data(args: argparse.Namespace) -> None:
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


def _data_root_overrides(cfg, data_root: str) -> dict:
    """Points every dataloader and evaluator of ``cfg`` to ``data_root``."""
    root = osp.abspath(data_root) + '/'
    overrides = {}
    for split in ('train', 'val', 'test'):
        if cfg.get(f'{split}_dataloader'):
            overrides[f'{split}_dataloader.dataset.data_root'] = root
        evaluator = cfg.get(f'{split}_evaluator')
        if evaluator and 'ann_file' in evaluator:
            overrides[f'{split}_evaluator.ann_file'] = root + osp.relpath(
                evaluator.ann_file, cfg.data_root)
    return overrides


def _run_overrides(cfg, iters: int, seed: int, data_root: str) -> dict:
    """The overrides of every run: schedule, seed and data."""
    return dict(
        _schedule_overrides(cfg, iters),
        **_data_root_overrides(cfg, data_root),
        **{'randomness.seed': seed})


def cfg_options(overrides: dict, prefix: str = '') -> List[str]:
    """``KEY=VALUE`` items of ``--cfg-options`` that merge as ``overrides``.

    ``Config.merge_from_dict`` merges a dict key by key, so a dict becomes
    one item per leaf; a list of dicts does too, index by index, which
    merges into the config's list of as many dicts (as
    ``_schedule_overrides`` makes ``param_scheduler``).

    Args:
        overrides: Dotted keys and their values.
        prefix: Put before each key.

    Raises:
        ValueError: A value that ``--cfg-options`` would read as another.
    """
    items = []
    for key, value in overrides.items():
        if isinstance(value, list) and value and all(
                isinstance(v, dict) for v in value):
            value = {str(i): v for i, v in enumerate(value)}
        if isinstance(value, dict):
            items += cfg_options(value, f'{prefix}{key}.')
        else:
            items.append(f'{prefix}{key}={_option_text(value)}')
    return items


def _option_text(value) -> str:
    """``value`` as mmengine's ``DictAction`` reads it back."""
    from mmengine.config import DictAction
    if isinstance(value, (list, tuple)):
        inner = ','.join(_option_text(v) for v in value)
        text = f'[{inner}]' if isinstance(value, list) else f'({inner})'
    else:
        text = str(value)
    read = DictAction._parse_iterable(text)
    if read != value:
        raise ValueError(f'--cfg-options cannot pass {value!r}: it would '
                         f'read {text!r} as {read!r}')
    return text


def train_command(config: str,
                  work_dir: str,
                  overrides: dict,
                  tensorboard: bool = False) -> List[str]:
    """The ``tools/train.py`` command line of one run.

    Args:
        config: The config file.
        work_dir: The run's work dir.
        overrides: Dotted keys merged into the config, as ``--cfg-options``.
        tensorboard: Train ``config`` with TensorBoard logging added
            (:func:`_with_tensorboard`).
    """
    if tensorboard:
        config = _with_tensorboard(config, work_dir)
    return [
        sys.executable, *PYTHON_OPTIONS, TRAIN_PY, config, '--work-dir',
        osp.abspath(work_dir), '--cfg-options', *cfg_options(overrides)
    ]


def _with_tensorboard(config: str, work_dir: str) -> str:
    """Writes ``config`` plus ``TensorboardVisBackend`` (the README's line,
    "TensorBoard"), a list that ``--cfg-options`` cannot append to.

    The file is ``WORK_DIR/tensorboard/<config's name>``: the Runner dumps
    the config it trains to ``WORK_DIR/<its name>``.

    Returns:
        str: The path of the config written.
    """
    path = osp.join(work_dir, 'tensorboard', osp.basename(config))
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(f'_base_ = {osp.abspath(config)!r}\n'
                'visualizer = dict(vis_backends=_base_.visualizer.vis_backends'
                " + [dict(type='TensorboardVisBackend')])\n")
    return path


def execute(command: List[str], log_path: str, verbose: bool) -> int:
    """Runs ``command``; writes it, then its stdout and stderr, to a log.

    Args:
        command: The program and its arguments.
        log_path: The log, written afresh; its first line is ``command``
            as a shell would take it.
        verbose: Print the output on the console too.

    Returns:
        int: The exit status of ``command``.
    """
    with open(log_path, 'wb') as log_file:
        log_file.write(shlex.join(command).encode() + b'\n')
        log_file.flush()
        with subprocess.Popen(command, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) as proc:
            for line in proc.stdout:
                log_file.write(line)
                if verbose:
                    sys.stdout.write(line.decode(errors='replace'))
                    sys.stdout.flush()
    return proc.returncode


class RunFailed(RuntimeError):
    """A training run that gave no result."""


def train(command: List[str], work_dir: str, verbose: bool) -> str:
    """Runs a ``tools/train.py`` command; returns the log dir it wrote.

    Args:
        command: The command, from :func:`train_command`.
        work_dir: Its work dir, where :data:`RUN_LOG` goes.
        verbose: Print the run's output on the console too.

    Raises:
        RunFailed: The run exited with an error or wrote no scalars.
    """
    os.makedirs(work_dir, exist_ok=True)
    before = set(os.listdir(work_dir))
    status = execute(command, osp.join(work_dir, RUN_LOG), verbose)
    if status != 0:
        raise RunFailed(f'exit status {status}')
    return _new_log_dir(work_dir, before)


def _new_log_dir(work_dir: str, before: Set[str]) -> str:
    """The log dir a run added to ``work_dir`` (mmengine's Runner writes
    ``WORK_DIR/<its start time, %Y%m%d_%H%M%S>/vis_data/scalars.json``).

    Raises:
        RunFailed: The run added none.
    """
    made = [
        name for name in sorted(set(os.listdir(work_dir)) - before)
        if osp.isfile(osp.join(work_dir, name, 'vis_data', 'scalars.json'))
    ]
    if not made:
        raise RunFailed('no <timestamp>/vis_data/scalars.json written')
    return osp.join(work_dir, made[-1])


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
    """The result of a run on its console line."""
    text = f'{task.metric_label} {result["metric"]:.3f}, ' \
           f'{result["s_per_iter"]:.3f} s/iter'
    return f'{text} ({result["note"]})' if result.get('note') else text


@dataclass
class Job:
    """One training run of the demo: what it trains, where and how."""
    task: Task
    role: str  # 'teacher' (its result keeps the checkpoint) or 'student'
    label: str  # on the console
    config: str
    work_dir: str
    iters: int
    overrides: dict
    # What a finished run on disk must have been made from to be reused.
    provenance: dict


def teacher_job(task: Task, args: argparse.Namespace) -> Job:
    """The task's teacher (seed 0)."""
    from mmengine.config import Config
    cfg = Config.fromfile(task.teacher)
    return Job(task, 'teacher', f'teacher ({osp.basename(task.teacher)})',
               task.teacher, _teacher_dir(task, args), args.teacher_iters,
               _run_overrides(cfg, args.teacher_iters, 0, args.data_root),
               dict(data_root=osp.abspath(args.data_root)))


def student_job(task: Task, method: str, seed: int, teacher_ckpt: str,
                args: argparse.Namespace) -> Job:
    """One student variant, distilled from ``teacher_ckpt``."""
    from mmengine.config import Config
    config, extra = task.methods[method]
    cfg = Config.fromfile(config)
    overrides = dict(extra,
                     **_run_overrides(cfg, args.iters, seed, args.data_root))
    if 'teacher_ckpt' in cfg.model:
        overrides['model.teacher_ckpt'] = teacher_ckpt
    if 'teacher_ckpt' in cfg:  # the configs' variable, for a truthful dump
        overrides['teacher_ckpt'] = teacher_ckpt
    # The teacher's file time: a retrained teacher invalidates its students.
    provenance = dict(
        data_root=osp.abspath(args.data_root),
        teacher=f'{teacher_ckpt}@{osp.getmtime(teacher_ckpt):.0f}')
    return Job(task, 'student', f'{method}, seed {seed}', config,
               _student_dir(task, method, seed, args), args.iters, overrides,
               provenance)


def run(job: Job,
        args: argparse.Namespace,
        progress: Progress,
        reuse: bool = True) -> Optional[dict]:
    """Reuses the job's finished run, or trains it.

    Returns:
        dict | None: The run's summary; None if its training failed.
    """
    cached = _cached(job.work_dir, job.provenance) if reuse else None
    if cached:
        progress.begin(f'{job.label}: reusing {job.work_dir}:')
        progress.end(_result_text(job.task, cached), trained=False)
        return cached
    progress.begin(f'{job.label}: training {job.iters} '
                   f'iterations{_again(job.work_dir)} ...')
    command = train_command(job.config, job.work_dir, job.overrides,
                            args.tensorboard)
    try:
        log_dir = train(command, job.work_dir, args.verbose)
        result = summarise(read_scalars(log_dir), job.task)
    except RuntimeError as err:
        progress.fail(str(err), osp.join(job.work_dir, RUN_LOG))
        return None
    if job.role == 'teacher':
        result['checkpoint'] = _last_checkpoint(job.work_dir)
    _save(job.work_dir, result, job.provenance)
    progress.end(_result_text(job.task, result), trained=True)
    return result


def _again(work_dir: str) -> str:
    """Why a run on disk is not reused, or ''."""
    if osp.exists(osp.join(work_dir, 'result.json')):
        return ' (again: other data or teacher)'
    return ''


def _teacher_dir(task: Task, args: argparse.Namespace) -> str:
    """The teacher's work_dir; its students' work_dirs lie inside."""
    tag = '_quick' if args.quick else ''
    return osp.join(args.work_dir, task.name,
                    f'teacher_{args.teacher_iters}i{tag}')


def _student_dir(task: Task, method: str, seed: int,
                 args: argparse.Namespace) -> str:
    """A student's work_dir, in its teacher's."""
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
    """Writes a finished run's summary and provenance (its result.json)."""
    result['work_dir'] = work_dir
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(dict(result, provenance=provenance), f)


def _last_checkpoint(work_dir: str) -> str:
    """The checkpoint that mmengine's CheckpointHook saved last."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def base_method(method: str) -> Optional[str]:
    """The base loss that a ``'<base> + AKD ...'`` method adds Avatars to."""
    base, plus, _ = method.partition(' + AKD')
    return base if plus else None


def _mean_std(values: List[float], signed: bool = False) -> str:
    """Mean, and ± standard deviation if there are several values."""
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

    Args:
        task: The task.
        teacher: The teacher's summary.
        results: Per method, the summaries of its seeds (with ``seed``,
            when some are missing, for the pairing).
    """
    seeds = max((len(r) for r in results.values()), default=1)
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
        if base and _seeds(base) == _seeds(runs):
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


def _seeds(runs: List[dict]) -> List[Optional[int]]:
    """The seeds of the runs of a method, in order."""
    return [r.get('seed') for r in runs]


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
        seeds = max((len(runs) for runs in entry['results'].values()),
                    default=1)
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


def _load_tool(relative: str) -> types.ModuleType:
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


def _default_methods(task: Task, args: argparse.Namespace) -> List[str]:
    """The methods that run when ``--methods`` does not say."""
    if args.study:
        return task.study
    if args.ablation:
        return ['CWD', 'CWD + AKD'] + task.ablation
    return DEMO_METHODS


def _chosen_tasks(args: argparse.Namespace) -> List[Tuple[Task, List[str]]]:
    """The tasks to run, each with its methods."""
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
    return tasks


def _plan(tasks: List[Tuple[Task, List[str]]],
          args: argparse.Namespace) -> List[PlannedRun]:
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


def run_task(task: Task, methods: List[str], args: argparse.Namespace,
             progress: Progress) -> Optional[dict]:
    """Trains (or reuses) the task's teacher, then its students.

    Returns:
        dict | None: ``teacher`` (its summary) and ``results`` (per method
        with a finished run, the summaries of its seeds); None if the
        teacher failed (its students are skipped).
    """
    teacher = run(teacher_job(task, args), args, progress,
                  reuse=not args.retrain_teacher)
    if teacher is None:
        progress.skip(len(args.seeds) * len(methods),
                      f'{task.name}: its teacher failed; its students are '
                      'skipped')
        return None
    # Seed-major: stopped early, every method has the same seeds done.
    results = {method: [] for method in methods}
    for seed in args.seeds:
        for method in methods:
            job = student_job(task, method, seed, teacher['checkpoint'], args)
            result = run(job, args, progress)
            if result is not None:
                results[method].append(dict(result, seed=seed))
    return dict(teacher=teacher,
                results={m: runs for m, runs in results.items() if runs})


def report(all_results: Dict[str, dict], args: argparse.Namespace) -> str:
    """Writes and prints the tables; plots the curves and statistics.

    Returns:
        str: The files plotted, for the last console line.
    """
    suffix = '_quick' if args.quick else ('_study' if args.study else (
        '_ablation' if args.ablation else ''))
    tables = [
        table(TASKS[name], entry['teacher'], entry['results'])
        for name, entry in all_results.items()
    ]
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, f'results{suffix}.md'), 'w') as f:
        f.write('\n\n'.join(tables) + '\n')
    print('\n' + '\n\n'.join(tables) + '\n')
    plot_path = osp.join(args.work_dir, f'curves{suffix}.png')
    plot(all_results, plot_path)
    stats_paths = plot_stats(all_results, suffix, args.work_dir)
    return f'curves: {plot_path}' + ''.join(f'; statistics: {p}'
                                            for p in stats_paths)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the demo.

    Args:
        argv: The arguments; ``sys.argv[1:]`` when None.

    Returns:
        int: The exit status: 1 if a run failed, else 0.
    """
    args = parse_args(argv)
    start = time.time()
    threads = os.environ.get('OMP_NUM_THREADS')
    log((f'{threads} intra-op thread(s) per run, as OMP_NUM_THREADS says'
         if threads is not None else '1 intra-op thread per run (set '
         'OMP_NUM_THREADS to choose)') + "; each run's command and full "
        f'output go to {RUN_LOG} in its work dir')
    ensure_data(args)
    tasks = _chosen_tasks(args)
    progress = Progress(_plan(tasks, args), args.verbose)
    all_results = {}
    for task, methods in tasks:
        entry = run_task(task, methods, args, progress)
        if entry is not None:
            all_results[task.name] = entry
    done = report(all_results, args) if all_results else 'no task finished'
    log(f'done in {(time.time() - start) / 60:.1f} min; {done}')
    if progress.failed:
        log(f'{len(progress.failed)} run(s) failed; their full output: ' +
            ', '.join(progress.failed))
        return 1
    return 0


if __name__ == '__main__':
    sys.path.insert(0, ROOT)
    import mmakd  # noqa: F401,E402  (compat fixes, registry)
    sys.exit(main())
