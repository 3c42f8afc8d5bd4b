"""The main job: distil a real student on real data, with and without Avatars.

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
                                             # methods, seeds 0 1 2
    python tools/akd_demo.py --ablation      # AKD's settings, seeds 0 1 2
    python tools/akd_demo.py --tasks det --methods 'no KD' 'CWD + AKD'
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

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
    methods: Dict[str, tuple] = field(default_factory=dict)
    # Methods that only --ablation runs (not --study); set from `methods`.
    ablation: List[str] = field(init=False)

    def __post_init__(self):
        akd = self.methods['CWD + AKD'][0]
        variants = _akd_variants(akd)
        self.methods.update(variants)
        self.ablation = list(variants)

    @property
    def study(self) -> List[str]:
        """The methods of ``--study``: all but the ablation variants."""
        return [m for m in self.methods if m not in self.ablation]


def _cfg(name: str) -> str:
    return osp.join(CONFIGS, name)


def _akd_variants(akd_config: str) -> Dict[str, tuple]:
    """CWD + AKD with one setting changed from the release's, for --ablation.

    More Avatars, a weaker and a stronger dropout, and the Avatars without
    the uncertainty factor (which, dividing student and Avatar by sigma,
    also changes the temperature of CWD's softmax).
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
    }


TASKS = {
    'det':
    Task(
        'det',
        'coco/bbox_mAP',
        'mAP',
        _cfg('retinanet_r18-w32_fpn_1500i_digit-scenes.py'),
        True,
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
QUICK_TEACHER_ITERS, QUICK_STUDENT_ITERS = 200, 100
DATA_ROOT = osp.join(ROOT, 'data', 'digit_scenes')



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
                        help='every method of each task, seeds 0 1 2')
    parser.add_argument('--ablation', action='store_true',
                        help='CWD, CWD + AKD and AKD with one setting '
                        'changed (N, p, no sigma), seeds 0 1 2')
    parser.add_argument('--iters', type=int,
                        help=f'student iterations (default: {STUDENT_ITERS},'
                        f' {QUICK_STUDENT_ITERS} with --quick)')
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
        args.iters = QUICK_STUDENT_ITERS if args.quick else STUDENT_ITERS
    if args.teacher_iters is None:
        args.teacher_iters = QUICK_TEACHER_ITERS if args.quick \
            else TEACHER_ITERS
    if args.quick and args.data_root == DATA_ROOT:
        args.data_root = DATA_ROOT + '_quick'
    return args


def log(msg: str) -> None:
    print(f'[akd_demo {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def ensure_data(args) -> None:
    """Generates Digit Scenes under ``args.data_root`` unless already there."""
    from mmakd.datasets import create_digit_scenes
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
        # Three validations draw the curve; metrics logged by iteration.
        'train_cfg.val_interval': max(1, iters // 3),
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


def train(config: str, work_dir: str, overrides: dict, data_root: str,
          seed: int) -> str:
    """Trains one config with mmengine's Runner; returns its log directory."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(overrides)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    # Several Runners share this process: mmengine's visualizer and logger
    # are global instances found by name, so each run needs its own name.
    cfg.experiment_name = f'{osp.basename(work_dir)}_{time.strftime("%Y%m%d_%H%M%S")}'
    cfg.visualizer.name = cfg.experiment_name
    _set_data_root(cfg, data_root)
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
    """The records of mmengine's LocalVisBackend (``vis_data/scalars.json``)."""
    path = osp.join(log_dir, 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarise(records: List[dict], task: Task) -> dict:
    """Final metric, validation curve and median seconds per iteration.

    Raises:
        RuntimeError: no validation logged ``task.metric``, where that
            cannot mean a score of 0.
    """
    curve = [(r['step'], r[task.metric]) for r in records if task.metric in r]
    times = [r['time'] for r in records if 'time' in r and 'loss' in r]
    if not curve:
        if not task.no_metric_means_zero:
            raise RuntimeError(f'{task.name}: no validation logged '
                               f'{task.metric!r}; cannot report a result')
        log(f'{task.name}: no {task.metric_label} logged (no detection '
            'passed the score threshold): counted as 0')
    return dict(
        metric=curve[-1][1] if curve else 0.0,
        curve=curve,
        s_per_iter=statistics.median(times) if times else float('nan'))


def run_teacher(task: Task, args) -> dict:
    """Trains the task's teacher, or reuses it; returns its summary."""
    from mmengine.config import Config
    work_dir = _teacher_dir(task, args)
    provenance = dict(data_root=osp.abspath(args.data_root))
    cached = _cached(work_dir, provenance)
    if cached and not args.retrain_teacher:
        log(f'{task.name}: reusing the teacher in {work_dir} '
            f'({task.metric_label} {cached["metric"]:.3f})')
        return cached
    cfg = Config.fromfile(task.teacher)
    log(f'{task.name}: training the teacher ({osp.basename(task.teacher)},'
        f' {args.teacher_iters} iterations)')
    log_dir = train(task.teacher, work_dir,
                    _schedule_overrides(cfg, args.teacher_iters),
                    args.data_root, 0)
    result = summarise(read_scalars(log_dir), task)
    result['checkpoint'] = _last_checkpoint(work_dir)
    _save(work_dir, result, provenance)
    log(f'{task.name}: teacher {task.metric_label} {result["metric"]:.3f}')
    return result


def _teacher_dir(task: Task, args) -> str:
    """The teacher's work_dir; its students' work_dirs lie inside."""
    tag = '_quick' if args.quick else ''
    return osp.join(args.work_dir, task.name,
                    f'teacher_{args.teacher_iters}i{tag}')


def _cached(work_dir: str, provenance: dict) -> Optional[dict]:
    """The summary of a finished run in ``work_dir``, if there is one that
    was made from the same data (and teacher) as ``provenance`` says."""
    path = osp.join(work_dir, 'result.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        result = json.load(f)
    if result.get('provenance') != provenance:
        log(f'{work_dir} was made from other data or another teacher '
            f'({result.get("provenance")}, now {provenance}): training again')
        return None
    return result


def _save(work_dir: str, result: dict, provenance: dict) -> None:
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(dict(result, provenance=provenance), f)


def _last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def run_student(task: Task, method: str, seed: int, teacher_ckpt: str,
                args) -> dict:
    """Trains one student variant; returns its summary."""
    from mmengine.config import Config
    config, extra = task.methods[method]
    cfg = Config.fromfile(config)
    overrides = dict(extra, **_schedule_overrides(cfg, args.iters))
    if 'teacher_ckpt' in cfg.model:
        overrides['model.teacher_ckpt'] = teacher_ckpt
    if 'teacher_ckpt' in cfg:  # the configs' variable, for a truthful dump
        overrides['teacher_ckpt'] = teacher_ckpt
    slug = method.lower().replace(' + ', '+').replace(' ', '_').replace(
        '(', '').replace(')', '')
    work_dir = osp.join(
        _teacher_dir(task, args), f'{slug}_{args.iters}i_seed{seed}')
    # The teacher's file time: a retrained teacher invalidates its students.
    provenance = dict(
        data_root=osp.abspath(args.data_root),
        teacher=f'{teacher_ckpt}@{osp.getmtime(teacher_ckpt):.0f}')
    cached = _cached(work_dir, provenance)
    if cached:
        log(f'{task.name}: reusing {method}, seed {seed} from {work_dir}')
        return cached
    log(f'{task.name}: training the student: {method}, seed {seed}, '
        f'{args.iters} iterations')
    log_dir = train(config, work_dir, overrides, args.data_root, seed)
    result = summarise(read_scalars(log_dir), task)
    _save(work_dir, result, provenance)
    log(f'{task.name}: {method}, seed {seed}: {task.metric_label} '
        f'{result["metric"]:.3f}, {result["s_per_iter"]:.3f} s/iter')
    return result


def table(task: Task, teacher: dict, results: Dict[str, List[dict]]) -> str:
    """A markdown table of the task's results, mean and std over seeds."""
    seeds = max(len(r) for r in results.values())
    head = f'| {task.name} | {task.metric_label}' + \
        (' (mean ± std)' if seeds > 1 else '') + ' | s/iter | runs |'
    lines = [head, '|---|---|---|---|',
             f'| teacher | {teacher["metric"]:.3f} | '
             f'{teacher["s_per_iter"]:.3f} | 1 |']
    for method, runs in results.items():
        values = [r['metric'] for r in runs]
        metric = f'{statistics.mean(values):.3f}' + (
            f' ± {statistics.stdev(values):.3f}' if len(values) > 1 else '')
        speed = statistics.mean(r['s_per_iter'] for r in runs)
        lines.append(f'| {method} | {metric} | {speed:.3f} | {len(runs)} |')
    return '\n'.join(lines)


def plot(all_results: Dict[str, Dict[str, List[dict]]], path: str) -> None:
    """Validation curves, one panel per task, seed 0 of each method."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(all_results), squeeze=False,
                             figsize=(6 * len(all_results), 4))
    for ax, (name, results) in zip(axes[0], all_results.items()):
        for method, runs in results.items():
            steps, values = zip(*runs[0]['curve']) if runs[0]['curve'] \
                else ((), ())
            ax.plot(steps, values, marker='o', label=method)
        ax.set_title(f'Digit Scenes {name}: student validation')
        ax.set_xlabel('iteration')
        ax.set_ylabel(TASKS[name].metric_label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _default_methods(task: Task, args) -> List[str]:
    if args.study:
        return task.study
    if args.ablation:
        return ['CWD', 'CWD + AKD'] + task.ablation
    return DEMO_METHODS


def main(argv=None) -> Dict[str, str]:
    args = parse_args(argv)
    start = time.time()
    ensure_data(args)
    tables, all_results = {}, {}
    for name in args.tasks:
        task = TASKS[name]
        methods = args.methods or _default_methods(task, args)
        # A method of the other task only (e.g. FGD) is skipped here.
        methods = [m for m in methods if m in task.methods]
        if not methods:
            log(f'{name}: none of the chosen methods applies; skipped')
            continue
        teacher = run_teacher(task, args)
        # Seed-major: stopped early, every method has the same seeds done.
        results = {method: [] for method in methods}
        for seed in args.seeds:
            for method in methods:
                results[method].append(
                    run_student(task, method, seed, teacher['checkpoint'],
                                args))
        tables[name] = table(task, teacher, results)
        all_results[name] = results
    os.makedirs(args.work_dir, exist_ok=True)
    suffix = '_quick' if args.quick else ('_study' if args.study else (
        '_ablation' if args.ablation else ''))
    plot_path = osp.join(args.work_dir, f'curves{suffix}.png')
    plot(all_results, plot_path)
    report = '\n\n'.join(tables.values())
    with open(osp.join(args.work_dir, f'results{suffix}.md'), 'w') as f:
        f.write(report + '\n')
    print('\n' + report + '\n')
    log(f'done in {(time.time() - start) / 60:.1f} min; curves: {plot_path}')
    return tables


if __name__ == '__main__':
    sys.path.insert(0, ROOT)
    import mmakd  # noqa: F401,E402  (compat fixes, registry)
    main()
