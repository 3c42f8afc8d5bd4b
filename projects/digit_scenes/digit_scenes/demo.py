"""The demo: distil a real student on real data, with and without Avatars.

On Digit Scenes (scenes of scikit-learn's real handwritten digits, generated
here, no download), for detection (RetinaNet, mAP) and segmentation (PSPNet,
mIoU): generate the data if missing, train the teacher (or reuse it), then
train the student alone, with a base KD loss and with the same loss plus
Avatars; evaluate each, print a table (metric and time per iteration) and
plot the validation curves. The default run (not ``--quick``) also
evaluates the teacher's Avatars as inference models (``eval_avatars.py``:
the teacher, one Avatar, ensembles of 4 and 8) and trains CWD with the
student's neck and head inherited from the teacher.

Examples, from the repository root with it on ``PYTHONPATH``
(projects/digit_scenes/README.md)::

    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    python projects/digit_scenes/tools/akd_demo.py     # `make demo`
    python projects/digit_scenes/tools/akd_demo.py --quick
        # a first look, a few minutes (`make demo-quick`)
    python projects/digit_scenes/tools/akd_demo.py --study
        # docs/study.md's study: more methods, seeds 0 1 2, 900 student
        # iterations
    python projects/digit_scenes/tools/akd_demo.py --ablation
        # AKD's settings, seeds 0 1 2
    python projects/digit_scenes/tools/akd_demo.py --teachers-study
        # docs/study-teachers.md: two more teachers (seeds 1, 2), the
        # Avatars and the teachers as inference ensembles, CWD from 1 or 3
        # teachers with and without Avatars, and inheriting; seeds 0 1 2
    python projects/digit_scenes/tools/akd_demo.py --tasks det \
        --methods 'no KD' 'CWD + AKD'

Each run is its own ``tools/train.py`` process. The console shows one line
per run, with an estimate of the time left, and the table at the end; each
run's command (its first line) and full output (mmengine's log, evaluation
tables, warnings) go to ``console.log`` in its work dir (``--verbose``
prints the output as well). A run that fails is reported with that log, the
other runs go on, and the demo exits with status 1. Unless
``OMP_NUM_THREADS`` is set, tools/train.py runs torch with one intra-op
thread (see docs/performance.md, "CPU threads").
"""
import argparse
import json
import math
import os
import os.path as osp
import shutil
import statistics
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from . import train_process
from .export import create_digit_scenes
from .paths import REPO_ROOT
from .report import avatars_table, plot, plot_stats, table
from .tasks import (AVATARS_METHOD, DEMO_METHODS, QUICK_METHODS, TASKS, Task,
                    teacher_seeds)

# Set before mmengine is first imported (by main(), with mmakd), which
# warns.
warnings.filterwarnings(
    'ignore', message=train_process.PKG_RESOURCES_WARNING,
    category=UserWarning)
if TYPE_CHECKING:
    from mmengine.config import Config

# The CPU budget of the demo and the study (the configs' own schedule, 1500
# iterations, is for tools/train.py): every student gets the same budget.
# With --study, each task's students get its Task.study_iters.
TEACHER_ITERS, STUDENT_ITERS = 600, 300
QUICK_TEACHER_ITERS, QUICK_STUDENT_ITERS = 200, 100
# MasKD's stage 1 (its Digit Scenes config's own schedule).
TOKENS_ITERS, QUICK_TOKENS_ITERS = 300, 100
DATA_ROOT = osp.join(REPO_ROOT, 'data', 'digit_scenes')
#: The teacher's Avatars as inference models: the ensembles' sizes, and the
#: seed of the draws (eval_avatars.py's).
EVAL_NUM_AVATARS, EVAL_SEED = (4, 8), 0
#: The extra teachers of ``--teachers-study`` (the demo's has seed 0).
EXTRA_TEACHER_SEEDS = (1, 2)
#: Each run's command and full output, in its work dir.
RUN_LOG = 'console.log'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parses the demo's command line, with the defaults it implies."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS),
                        default=list(TASKS))
    parser.add_argument('--methods', nargs='+', help='default: '
                        f'{DEMO_METHODS} ({QUICK_METHODS} with --quick); '
                        '--study, --ablation, --teachers-study: theirs')
    parser.add_argument('--seeds', nargs='+', type=int, help='student seeds '
                        '(default: 0; --study, --ablation, --teachers-study:'
                        ' 0 1 2)')
    parser.add_argument('--quick', action='store_true',
                        help='a first look: fewer scenes and iterations')
    parser.add_argument('--study', action='store_true',
                        help='the study\'s methods, seeds 0 1 2, '
                        'each task\'s study iterations; the '
                        'table adds per-seed values and the paired '
                        'difference from the base loss')
    parser.add_argument('--ablation', action='store_true',
                        help='CWD, CWD + AKD and AKD with one setting '
                        'changed (N, p, no sigma), seeds 0 1 2')
    parser.add_argument('--teachers-study', action='store_true',
                        help='Avatars as teachers: two more teachers '
                        f'(seeds {", ".join(map(str, EXTRA_TEACHER_SEEDS))});'
                        ' the teacher, its Avatars, their ensembles and the '
                        "teachers' ensemble as inference models "
                        '(eval_avatars.py); students '
                        f'{TASKS["det"].teachers_study}, seeds 0 1 2, each '
                        "task's study iterations, each paired with CWD")
    parser.add_argument('--iters', type=int,
                        help=f'student iterations (default: {STUDENT_ITERS},'
                        f' {QUICK_STUDENT_ITERS} with --quick; with --study '
                        'each task\'s: ' + ', '.join(
                            f'{t.study_iters} for {t.name}'
                            for t in TASKS.values()) + ')')
    parser.add_argument('--tokens-iters', type=int,
                        help='iterations of MasKD\'s stage 1, the teacher\'s '
                        f'receptive tokens (default: {TOKENS_ITERS}, '
                        f'{QUICK_TOKENS_ITERS} with --quick)')
    parser.add_argument('--teacher-iters', type=int,
                        help=f'teacher iterations (default: {TEACHER_ITERS},'
                        f' {QUICK_TEACHER_ITERS} with --quick)')
    parser.add_argument('--work-dir',
                        default=osp.join(REPO_ROOT, 'work_dirs', 'akd_demo'))
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
    tables = [flag for flag, on in (('--study', args.study),
                                    ('--ablation', args.ablation),
                                    ('--teachers-study', args.teachers_study))
              if on]
    if len(tables) > 1:
        parser.error(f'{" and ".join(tables)} are separate tables; '
                     'run them one after the other')
    known = {m for name in args.tasks for m in TASKS[name].methods}
    unknown = [m for m in args.methods or [] if m not in known]
    if unknown:
        parser.error(f'--methods: unknown {unknown} for tasks {args.tasks}; '
                     f'expected some of {sorted(known)}')
    if args.seeds is None:
        args.seeds = [0, 1, 2] if tables else [0]
    if args.iters is None and not (args.study or args.teachers_study):
        args.iters = QUICK_STUDENT_ITERS if args.quick else STUDENT_ITERS
    if args.tokens_iters is None:
        args.tokens_iters = QUICK_TOKENS_ITERS if args.quick \
            else TOKENS_ITERS
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
class Run:
    """A run of the demo, to make or reuse: a teacher (``seed`` 0, the
    demo's, or another seed), MasKD's receptive tokens on the teacher
    (``role='tokens'``), a student, or the evaluation of the teacher's
    Avatars as inference models (``role='avatars'``, ``iters`` 0)."""
    task: Task
    method: Optional[str]  # None but for a student
    seed: int
    iters: int
    work_dir: str
    # Trained whatever is on disk (--retrain-teacher).
    fresh: bool = False
    role: str = 'student'
    # A student whose config reads MasKD's tokens (its ``tokens_ckpt``).
    needs_tokens: bool = False
    #: The seeds (> 0) of the other teachers it needs: a student's with
    #: several teachers (``model.teachers``), or the evaluation's ensemble
    #: of the teachers.
    teacher_seeds: Tuple[int, ...] = ()

    @property
    def label(self) -> str:
        """What the run is, on its console line."""
        if self.role == 'teacher':
            seed = f', seed {self.seed}' if self.seed else ''
            return f'teacher ({osp.basename(self.task.teacher)}{seed})'
        if self.role == 'tokens':
            return f'MasKD tokens ({osp.basename(self.task.tokens)})'
        if self.role == 'avatars':
            sizes = ' and '.join(map(str, EVAL_NUM_AVATARS))
            teachers = f', {len(self.teacher_seeds) + 1} teachers' \
                if self.teacher_seeds else ''
            return ('the teacher and its Avatars as inference models '
                    f'(1, {sizes} Avatars{teachers})')
        return f'{self.method}, seed {self.seed}'

    @property
    def config(self) -> Tuple[str, dict]:
        """The run's config file and what its method overrides in it."""
        if self.role == 'teacher':
            return self.task.teacher, {}
        if self.role == 'tokens':
            return self.task.tokens, {}
        if self.role == 'avatars':
            return self.task.methods[AVATARS_METHOD]
        return self.task.methods[self.method]

    @property
    def done(self) -> bool:
        """Whether a finished run is on disk, to be reused."""
        return not self.fresh and osp.exists(
            osp.join(self.work_dir, 'result.json'))


class Progress:
    """One console line per run: what it is, its result and the time left.

    The time left is that of the runs still to train, each at the wall
    seconds per iteration of the runs trained so far (in this invocation)
    of its task and role (teacher or student), else of all of them; an
    evaluation (no iterations) at the wall time of those evaluated so far,
    and before the first is timed, the estimate says how many it leaves
    out.

    Args:
        plan: Every run, in order.
        verbose: Runs print their output too; the line is split in two
            around it.
    """

    def __init__(self, plan: List[Run], verbose: bool) -> None:
        self.plan, self.verbose = plan, verbose
        self.count = 0
        #: The logs of the runs that failed.
        self.failed: List[str] = []
        self._trained: List[Tuple[Run, float]] = []
        self._started = 0.0

    def begin(self, text: str) -> None:
        """Opens the line of the plan's next run."""
        self.count += 1
        self._started = time.time()
        run = self.plan[self.count - 1]
        log(f'{run.task.name} {self.count}/{len(self.plan)} {text} ',
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
        estimates = [self._seconds(run) for run in todo]
        untimed = sum(e is None for e in estimates)
        if untimed == len(todo) or untimed and any(r.iters for r, e in zip(
                todo, estimates) if e is None):
            return 'no time estimate yet'
        text = f'about {_duration(sum(filter(None, estimates)))} left'
        if untimed:
            text += (f' (+ {untimed} evaluation' + 's' * (untimed > 1) +
                     ' not timed yet)')
        return text

    def _seconds(self, run: Run) -> Optional[float]:
        """The wall seconds a run still to do will take, if any run of its
        kind (trained or evaluated) was timed."""
        measured = [(r, wall) for r, wall in self._trained
                    if bool(r.iters) == bool(run.iters)]
        same = [(r, wall) for r, wall in measured
                if (r.task.name, r.role) == (run.task.name, run.role)]
        measured = same or measured
        if not measured:
            return None
        walls = [wall for _, wall in measured]
        if not run.iters:  # an evaluation
            return statistics.mean(walls)
        return run.iters * sum(walls) / sum(r.iters for r, _ in measured)


def ensure_data(args: argparse.Namespace) -> None:
    """Generates Digit Scenes under ``args.data_root`` unless already there.

    The files are written into a folder of this process beside it, which is
    then renamed to ``args.data_root``: two demos started at once (e.g. one
    per task) never write to, or read, a half-written data set. The one
    that renames second keeps the other's (the same scenes) and removes its
    own.

    Raises:
        RuntimeError: ``args.data_root`` holds files but no ``meta.json``
            (not a data set the demo wrote, or an interrupted one).
    """
    if osp.exists(osp.join(args.data_root, 'meta.json')):
        return
    root = osp.abspath(args.data_root)
    if osp.isdir(root) and os.listdir(root):
        raise RuntimeError(
            f'{root} holds files but no meta.json, which the demo writes '
            'last: not a data set of the demo, or an interrupted one; '
            'remove it (or choose another --data-root) and run again')
    num_train, num_val = args.num_scenes or ((400, 100) if args.quick else
                                             (1500, 300))
    log(f'generating Digit Scenes ({num_train} train, {num_val} val scenes)'
        f' into {args.data_root}')
    os.makedirs(osp.dirname(root), exist_ok=True)
    partial = f'{root}.partial-{os.getpid()}'
    shutil.rmtree(partial, ignore_errors=True)
    create_digit_scenes(partial, num_train, num_val)
    try:
        os.rename(partial, root)  # also over an empty folder
    except OSError:
        if not osp.exists(osp.join(root, 'meta.json')):
            raise
        shutil.rmtree(partial)  # another demo's is in place


def _schedule_overrides(cfg: 'Config', iters: int) -> dict:
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


def _data_root_overrides(cfg: 'Config', data_root: str) -> dict:
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


def _config_and_overrides(run: Run, made_from: Dict[str, str],
                          data_root: str) -> Tuple[str, dict]:
    """A run's config and what it overrides: schedule, data and seed; a
    student's method; the checkpoints it is made from.

    Args:
        run: The run.
        made_from: The checkpoints of the runs it needs: ``teacher`` (for
            the tokens and the students), ``tokens`` (for a student whose
            config reads MasKD's tokens), ``teacher_seed<k>`` (the teacher
            trained with seed k, for a student's teacher ``t<k>`` of
            ``model.teachers``; ``t0`` is ``teacher``).
        data_root: Digit Scenes' folder.
    """
    from mmengine.config import Config
    config, extra = run.config
    cfg = Config.fromfile(config)
    overrides = {
        **extra,
        **_schedule_overrides(cfg, run.iters),
        **_data_root_overrides(cfg, data_root), 'randomness.seed': run.seed
    }
    teacher_ckpt, tokens_ckpt = made_from.get('teacher'), made_from.get(
        'tokens')
    if teacher_ckpt and 'teacher_ckpt' in cfg.model:
        overrides['model.teacher_ckpt'] = teacher_ckpt
    if teacher_ckpt and 'teacher_ckpt' in cfg:  # for a truthful dump
        overrides['teacher_ckpt'] = teacher_ckpt
    for name, seed in zip(cfg.model.get('teachers', {}),
                          teacher_seeds(cfg.model.get('teachers'))):
        ckpt = made_from[_teacher_key(seed)]
        overrides[f'model.teachers.{name}.ckpt'] = ckpt
        if name in cfg.get('teacher_ckpts', {}):  # for a truthful dump
            overrides[f'teacher_ckpts.{name}'] = ckpt
    if tokens_ckpt:
        losses = cfg.model.distiller.distill_losses
        overrides.update({
            f'model.distiller.distill_losses.{name}.tokens_ckpt': tokens_ckpt
            for name, loss in losses.items() if 'tokens_ckpt' in loss
        })
        overrides['tokens_ckpt'] = tokens_ckpt
    return config, overrides


def _teacher_key(seed: int) -> str:
    """The key of the teacher trained with ``seed`` in ``made_from``."""
    return 'teacher' if seed == 0 else f'teacher_seed{seed}'


def _eval_command(run: Run, made_from: Dict[str, str],
                  data_root: str) -> List[str]:
    """The evaluation's eval_avatars.py command: its config (the Avatars
    of :data:`AVATARS_METHOD`, data pointed to ``data_root``), the teacher
    and the other teachers of ``run.teacher_seeds``."""
    from mmengine.config import Config
    config, extra = run.config
    overrides = {**extra,
                 **_data_root_overrides(Config.fromfile(config), data_root)}
    return train_process.eval_avatars_command(
        config, run.work_dir, made_from['teacher'], overrides,
        list(EVAL_NUM_AVATARS),
        [made_from[_teacher_key(seed)] for seed in run.teacher_seeds],
        EVAL_SEED)


def reads_tokens(config: str) -> bool:
    """Whether a config distils with MasKD's tokens (has ``tokens_ckpt``)."""
    from mmengine.config import Config
    return 'tokens_ckpt' in Config.fromfile(config)


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


def _provenance(made_from: Dict[str, str], data_root: str) -> dict:
    """What a finished run on disk must have been made from to be reused."""
    provenance = dict(data_root=osp.abspath(data_root))
    # Each checkpoint with its file time: a retrained one is another.
    for role, ckpt in made_from.items():
        provenance[role] = f'{ckpt}@{osp.getmtime(ckpt):.0f}'
    return provenance


def _eval_provenance(run: Run, made_from: Dict[str, str],
                     data_root: str) -> dict:
    """An evaluation's provenance: its checkpoints and data, and what it
    evaluates (config, ensembles, seed)."""
    config, extra = run.config
    return dict(
        _provenance(made_from, data_root),
        eval_avatars=dict(config=config, overrides=extra,
                          num_avatars=list(EVAL_NUM_AVATARS),
                          seed=EVAL_SEED))


def summarise_avatars(results: dict, task: Task) -> dict:
    """What the report needs of eval_avatars.py's results: per row (model),
    its members, ``task.metric`` and seconds.

    Raises:
        RuntimeError: A row without ``task.metric``, where that cannot mean
            a score of 0.
    """
    rows = []
    for row in results['rows']:
        metric = row['metrics'].get(task.metric)
        if metric is None and not task.no_metric_means_zero:
            raise RuntimeError(f'{task.name}: eval_avatars.py gave '
                               f'{row["model"]!r} no {task.metric!r}')
        rows.append(dict(model=row['model'], members=row['members'],
                         metric=float(metric or 0.0),
                         seconds=row['seconds']))
    return dict(rows=rows, samples=results['samples'],
                perturbation=results['perturbation'],
                points=results['points'],
                config=osp.basename(results['config']), seed=results['seed'])


def _avatars_text(task: Task, result: dict) -> str:
    """The result of an evaluation on its console line."""
    return f'{task.metric_label}: ' + ', '.join(
        f'{row["model"]} {row["metric"]:.3f}' for row in result['rows'])


def evaluate_or_reuse(run: Run, made_from: Dict[str, str],
                      args: argparse.Namespace,
                      progress: Progress) -> Optional[dict]:
    """Reuses a finished evaluation of the teacher's Avatars on disk, or
    runs eval_avatars.py in its own process.

    Args:
        made_from: ``teacher`` and the ``teacher_seed<k>`` of
            ``run.teacher_seeds``.

    Returns:
        dict | None: Its summary (:func:`summarise_avatars`); None if it
        failed.
    """
    provenance = _eval_provenance(run, made_from, args.data_root)
    cached = None if run.fresh else _cached(run.work_dir, provenance)
    if cached:
        progress.begin(f'{run.label}: reusing {run.work_dir}:')
        progress.end(_avatars_text(run.task, cached), trained=False)
        return cached
    progress.begin(f'{run.label}: evaluating{_again(run.work_dir)} ...')
    try:
        command = _eval_command(run, made_from, args.data_root)
        result = summarise_avatars(
            train_process.evaluate(command, run.work_dir, RUN_LOG,
                                   args.verbose), run.task)
    except (RuntimeError, KeyError, ValueError) as err:
        progress.fail(str(err), osp.join(run.work_dir, RUN_LOG))
        return None
    _save(run.work_dir, result, provenance)
    progress.end(_avatars_text(run.task, result), trained=True)
    return result


def train_or_reuse(run: Run, made_from: Dict[str, str],
                   args: argparse.Namespace,
                   progress: Progress) -> Optional[dict]:
    """Reuses a finished run on disk, or trains it.

    Args:
        made_from: The checkpoints it needs (see
            :func:`_config_and_overrides`).

    Returns:
        dict | None: The run's summary; None if its training failed.
    """
    provenance = _provenance(made_from, args.data_root)
    cached = None if run.fresh else _cached(run.work_dir, provenance)
    if cached:
        progress.begin(f'{run.label}: reusing {run.work_dir}:')
        progress.end(_result_text(run.task, cached), trained=False)
        return cached
    progress.begin(f'{run.label}: training {run.iters} '
                   f'iterations{_again(run.work_dir)} ...')
    try:
        result = _train(run, made_from, args)
    except RuntimeError as err:
        progress.fail(str(err), osp.join(run.work_dir, RUN_LOG))
        return None
    _save(run.work_dir, result, provenance)
    progress.end(_result_text(run.task, result), trained=True)
    return result


def _train(run: Run, made_from: Dict[str, str],
           args: argparse.Namespace) -> dict:
    """Trains a run in its own tools/train.py process; returns its summary.

    Raises:
        RuntimeError: The run failed or logged no result.
    """
    config, overrides = _config_and_overrides(run, made_from,
                                              args.data_root)
    command = train_process.train_command(config, run.work_dir, overrides,
                                          args.tensorboard)
    log_dir = train_process.train(command, run.work_dir, RUN_LOG,
                                  args.verbose)
    result = summarise(train_process.read_scalars(log_dir), run.task)
    if run.role != 'student':  # what the others are made from
        result['checkpoint'] = _last_checkpoint(run.work_dir)
    return result


def _again(work_dir: str) -> str:
    """Why a run on disk is not reused, or ''."""
    if osp.exists(osp.join(work_dir, 'result.json')):
        return ' (again: other data or teacher)'
    return ''


def _teacher_dir(task: Task, args: argparse.Namespace,
                 seed: int = 0) -> str:
    """The teacher's work_dir; its students' work_dirs lie inside. Those
    of the teachers of other seeds lie beside it."""
    tag = '_quick' if args.quick else ''
    seed_tag = f'_seed{seed}' if seed else ''
    return osp.join(args.work_dir, task.name,
                    f'teacher_{args.teacher_iters}i{seed_tag}{tag}')


def _avatars_dir(task: Task, teachers: int,
                 args: argparse.Namespace) -> str:
    """The work_dir of the evaluation of the teacher's Avatars, in the
    teacher's (with the ensemble of ``teachers`` teachers, if > 1)."""
    tag = f'_{teachers}_teachers' if teachers > 1 else ''
    return osp.join(_teacher_dir(task, args), f'eval_avatars{tag}')


def _student_dir(task: Task, method: str, seed: int,
                 args: argparse.Namespace) -> str:
    """A student's work_dir, in its teacher's."""
    slug = method.lower().replace(' + ', '+').replace(' ', '_').replace(
        '(', '').replace(')', '')
    return osp.join(_teacher_dir(task, args),
                    f'{slug}_{student_iters(task, args)}i_seed{seed}')


def _tokens_dir(task: Task, args: argparse.Namespace) -> str:
    """The work_dir of MasKD's tokens, in their teacher's."""
    return osp.join(_teacher_dir(task, args),
                    f'maskd_tokens_{args.tokens_iters}i')


def student_iters(task: Task, args: argparse.Namespace) -> int:
    """The students' iterations: ``--iters``, else the task's study's."""
    return args.iters if args.iters is not None else task.study_iters


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


def _default_methods(task: Task, args: argparse.Namespace) -> List[str]:
    """The methods that run when ``--methods`` does not say."""
    if args.study:
        return task.study
    if args.ablation:
        return ['CWD', 'CWD + AKD'] + task.ablation
    if args.teachers_study:
        return task.teachers_study
    return QUICK_METHODS if args.quick else DEMO_METHODS


def _evaluates_avatars(args: argparse.Namespace) -> bool:
    """Whether the teacher's Avatars are evaluated as inference models:
    in ``--teachers-study`` (with the teachers' ensemble) and in the
    default run (not ``--quick``, no table of the study's, no
    ``--methods``)."""
    return args.teachers_study or not (args.quick or args.study or
                                       args.ablation or args.methods)


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


def other_teachers(config: str) -> Tuple[int, ...]:
    """The seeds (> 0) of the teachers of ``config`` other than the demo's
    (``model.teachers``: ``t<k>`` has seed k)."""
    from mmengine.config import Config
    model = Config.fromfile(config).model
    return tuple(s for s in teacher_seeds(model.get('teachers')) if s)


def _plan(task: Task, methods: List[str],
          args: argparse.Namespace) -> List[Run]:
    """The task's runs in the order they run: the teacher, the teachers of
    other seeds that a method (or the evaluation) needs, MasKD's tokens if
    a method reads them, the evaluation of the teacher's Avatars (see
    :func:`_evaluates_avatars`), then the students seed-major (stopped
    early, every method has the same seeds done)."""
    fresh = args.retrain_teacher
    teacher = Run(task, None, 0, args.teacher_iters, _teacher_dir(task, args),
                  fresh, role='teacher')
    needs_tokens = {
        method: reads_tokens(task.methods[method][0])
        for method in methods
    }
    needs_teachers = {
        method: other_teachers(task.methods[method][0])
        for method in methods
    }
    evaluation = []
    if _evaluates_avatars(args):
        seeds = EXTRA_TEACHER_SEEDS if args.teachers_study else ()
        evaluation.append(
            Run(task, None, 0, 0, _avatars_dir(task, len(seeds) + 1, args),
                fresh, role='avatars', teacher_seeds=seeds))
    others = sorted({seed for seeds in needs_teachers.values()
                     for seed in seeds} |
                    {seed for run in evaluation for seed in run.teacher_seeds})
    teachers = [
        Run(task, None, seed, args.teacher_iters,
            _teacher_dir(task, args, seed), fresh, role='teacher')
        for seed in others
    ]
    tokens = [
        Run(task, None, 0, args.tokens_iters, _tokens_dir(task, args), fresh,
            role='tokens')
    ] if any(needs_tokens.values()) else []
    return [teacher] + teachers + tokens + evaluation + [
        Run(task, method, seed, student_iters(task, args),
            _student_dir(task, method, seed, args), fresh,
            needs_tokens=needs_tokens[method],
            teacher_seeds=needs_teachers[method])
        for seed in args.seeds for method in methods
    ]


def run_task(runs: List[Run], args: argparse.Namespace,
             progress: Progress) -> Optional[dict]:
    """Trains (or reuses) a task's teacher, the teachers of other seeds and
    MasKD's tokens on it if planned, evaluates the teacher's Avatars if
    planned, then trains its students (``runs``, from :func:`_plan`).

    Returns:
        dict | None: ``teacher`` (its summary), ``teachers`` (per seed, those
        of the other teachers that were planned and trained), ``tokens``
        (theirs, if they were planned and trained), ``avatars`` (the
        evaluation's, if planned and done) and ``results`` (per method with
        a finished run, the summaries of its seeds); None if the teacher
        failed, and everything else is skipped. A run whose tokens or other
        teachers failed is skipped.
    """
    teacher = train_or_reuse(runs[0], {}, args, progress)
    if teacher is None:
        progress.skip(len(runs) - 1, f'{runs[0].task.name}: its teacher '
                      'failed; its students are skipped')
        return None
    made_from = dict(teacher=teacher['checkpoint'])
    others: Dict[int, dict] = {}
    tokens = avatars = None
    results: Dict[str, List[dict]] = {
        run.method: [] for run in runs if run.role == 'student'}
    for run in runs[1:]:
        missing = [s for s in run.teacher_seeds if s not in others]
        if missing:
            progress.skip(1, f'{run.label}: skipped, its teacher' +
                          's' * (len(missing) > 1) + ' of seed ' +
                          ', '.join(map(str, missing)) + ' failed')
            continue
        if run.needs_tokens and tokens is None:
            progress.skip(1, f'{run.label}: skipped, MasKD\'s tokens failed')
            continue
        needs = dict(made_from)
        needs.update({_teacher_key(s): others[s]['checkpoint']
                      for s in run.teacher_seeds})
        if run.needs_tokens:
            needs['tokens'] = tokens['checkpoint']
        if run.role == 'avatars':
            avatars = evaluate_or_reuse(run, needs, args, progress)
            continue
        result = train_or_reuse(run, {} if run.role == 'teacher' else needs,
                                args, progress)
        if result is None:
            continue
        if run.role == 'teacher':
            others[run.seed] = result
        elif run.role == 'tokens':
            tokens = result
        else:
            results[run.method].append(dict(result, seed=run.seed))
    entry = dict(teacher=teacher,
                 results={m: done for m, done in results.items() if done})
    for key, value in (('teachers', others), ('tokens', tokens),
                       ('avatars', avatars)):
        if value:
            entry[key] = value
    return entry


def report(all_results: Dict[str, dict], args: argparse.Namespace) -> str:
    """Writes and prints the tables; plots the curves and statistics.

    Returns:
        str: The files plotted, for the last console line.
    """
    suffix = '_quick' if args.quick else ('_study' if args.study else (
        '_ablation' if args.ablation else
        ('_teachers' if args.teachers_study else '')))
    tables = []
    for name, entry in all_results.items():
        tables.append(
            table(TASKS[name], entry['teacher'], entry['results'],
                  entry.get('tokens'), entry.get('teachers'),
                  base='CWD' if args.teachers_study else None))
        if entry.get('avatars'):
            tables.append(avatars_table(TASKS[name], entry['avatars']))
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, f'results{suffix}.md'), 'w') as f:
        f.write('\n\n'.join(tables) + '\n')
    print('\n' + '\n\n'.join(tables) + '\n')
    plot_path = osp.join(args.work_dir, f'curves{suffix}.png')
    plot(all_results, plot_path)
    stats_paths = plot_stats(all_results, suffix, args.work_dir, log)
    return f'curves: {plot_path}' + ''.join(f'; statistics: {p}'
                                            for p in stats_paths)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the demo; returns its exit status, 1 if a run failed.

    Args:
        argv: The command line's arguments (default: ``sys.argv[1:]``).
    """
    import mmakd  # noqa: F401  (its compat fixes, before any config)
    args = parse_args(argv)
    start = time.time()
    threads = os.environ.get('OMP_NUM_THREADS')
    log((f'{threads} intra-op thread(s) per run, as OMP_NUM_THREADS says'
         if threads is not None else '1 intra-op thread per run (set '
         'OMP_NUM_THREADS to choose)') + "; each run's command and full "
        f'output go to {RUN_LOG} in its work dir')
    ensure_data(args)
    plans = [_plan(task, methods, args) for task, methods in
             _chosen_tasks(args)]
    progress = Progress([run for plan in plans for run in plan],
                        args.verbose)
    all_results = {}
    for plan in plans:
        entry = run_task(plan, args, progress)
        if entry is not None:
            all_results[plan[0].task.name] = entry
    done = report(all_results, args) if all_results else 'no task finished'
    log(f'done in {(time.time() - start) / 60:.1f} min; {done}')
    if progress.failed:
        log(f'{len(progress.failed)} run(s) failed; their full output: ' +
            ', '.join(progress.failed))
        return 1
    return 0
