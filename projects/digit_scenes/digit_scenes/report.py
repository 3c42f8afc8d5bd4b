"""The demo's report: the tables and the plots of its runs' results.

:mod:`.demo` trains the runs; this module turns their summaries (per task:
the teacher's, the tokens', and per method those of its seeds) into
markdown tables, the validation curves and the statistics plots.
"""
import os.path as osp
import statistics
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .paths import REPO_ROOT
from .tasks import TASKS, Task
from .train_process import PYTHON_OPTIONS

#: mmakd's tool that plots the distill losses and AKD statistics of runs.
PLOT_AKD_STATS = osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                          'plot_akd_stats.py')


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


def table(task: Task, teacher: dict, results: Dict[str, List[dict]],
          tokens: Optional[dict] = None,
          teachers: Optional[Dict[int, dict]] = None,
          base: Optional[str] = None) -> str:
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
        tokens: MasKD's tokens' summary (the teacher validated on the
            features they mask), a row under the teacher's.
        teachers: Per seed, the summaries of the teachers of other seeds,
            rows under the teacher's.
        base: Pair every other method with this one instead of each
            ``'+ AKD'`` method with its base loss.
    """
    seeds = max((len(r) for r in results.values()), default=1)
    against = base or 'base'
    if seeds == 1:
        lines = [f'| {task.name} | {task.metric_label} | s/iter | runs |',
                 '|---|---|---|---|',
                 f'| teacher | {teacher["metric"]:.3f} | '
                 f'{teacher["s_per_iter"]:.3f} | 1 |']
    else:
        lines = [f'| {task.name} | {task.metric_label} (mean ± std) | '
                 f'per seed | minus {against}, paired (mean ± std) | above '
                 f'{against} | s/iter | runs |',
                 '|---|---|---|---|---|---|---|',
                 f'| teacher | {teacher["metric"]:.3f} | | | | '
                 f'{teacher["s_per_iter"]:.3f} | 1 |']
    blanks = '' if seeds == 1 else ' | | |'  # as the teacher's row
    for seed, other in sorted((teachers or {}).items()):
        lines.append(f'| teacher (seed {seed}) | {other["metric"]:.3f} |'
                     f'{blanks} {other["s_per_iter"]:.3f} | 1 |')
    if tokens:
        lines.append(f"| teacher through MasKD's tokens | "
                     f'{tokens["metric"]:.3f} |{blanks} '
                     f'{tokens["s_per_iter"]:.3f} | 1 |')
    for method, runs in results.items():
        values = [r['metric'] for r in runs]
        speed = statistics.mean(r['s_per_iter'] for r in runs)
        if seeds == 1:
            lines.append(f'| {method} | {values[0]:.3f} | {speed:.3f} | '
                         f'{len(runs)} |')
            continue
        per_seed = ', '.join(f'{v:.3f}' for v in values)
        paired = above = ''
        paired_with = results.get(
            (base if method != base else None) if base else
            base_method(method))
        if paired_with and _seeds(paired_with) == _seeds(runs):
            diffs = [v - b['metric'] for v, b in zip(values, paired_with)]
            paired = _mean_std(diffs, signed=True)
            above = f'{sum(d > 0 for d in diffs)}/{len(diffs)}'
        lines.append(f'| {method} | {_mean_std(values)} | {per_seed} | '
                     f'{paired} | {above} | {speed:.3f} | {len(runs)} |')
    if seeds == 1:
        lines.append(
            f'\n{task.name}: one seed per method. Differences between the '
            'students are within run-to-run noise unless clearly larger '
            "than the study's (docs/study.md: "
            f'{task.study_noise} over 3 seeds at 300 iterations); '
            '`--seeds 0 1 2` gives mean ± std.')
    else:
        paired = f'every method minus {base}' if base else \
            'a "+ AKD" method minus its base loss'
        lines.append(f'\n{task.name}: {seeds} seeds per method, mean ± '
                     f'standard deviation over seeds; {paired}, seed by '
                     'seed.')
    return '\n'.join(lines)


def avatars_table(task: Task, avatars: dict) -> str:
    """A markdown table of the teacher, its Avatars and the ensembles as
    inference models (eval_avatars.py's rows): the metric, the difference
    from the teacher, the members and the seconds of inference.

    Args:
        task: The task.
        avatars: The evaluation's summary (``rows``: ``model``,
            ``members``, ``metric``, ``seconds``; ``samples``,
            ``perturbation``, ``points``, ``config``, ``seed``).
    """
    rows = avatars['rows']
    teacher = next((r['metric'] for r in rows if r['model'] == 'teacher'),
                   None)
    lines = [f'| {task.name}: inference | {task.metric_label} | minus '
             'teacher | members | seconds |', '|---|---|---|---|---|']
    for row in rows:
        minus = '' if teacher is None or row['model'] == 'teacher' else \
            f'{row["metric"] - teacher:+.3f}'
        lines.append(f'| {row["model"]} | {row["metric"]:.3f} | {minus} | '
                     f'{row["members"]} | {row["seconds"]:.2f} |')
    perturbation = ', '.join(
        ', '.join(f'{k}={v}' for k, v in p.items())
        for p in avatars['perturbation'])
    lines.append(
        f'\n{task.name}: the teacher, its Avatars ({perturbation} at '
        f'{", ".join(avatars["points"].values())}, draws of seed '
        f'{avatars["seed"]}, as in {avatars["config"]}) and the ensembles '
        '(head outputs averaged) on the '
        f'{avatars["samples"]} validation samples; seconds of inference '
        'over the set (tools/analysis_tools/eval_avatars.py).')
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
    most = max(len(entry['results']) for entry in all_results.values())
    # Past matplotlib's 10 colours, two methods would share one.
    colours = plt.get_cmap('tab10' if most <= 10 else 'tab20').colors
    # Many methods: the legend beside the panel, not over the curves.
    outside = most > 6
    fig, axes = plt.subplots(1, len(all_results), squeeze=False,
                             figsize=((8.5 if outside else 6) *
                                      len(all_results), 4.4))
    for ax, (name, entry) in zip(axes[0], all_results.items()):
        task, teacher = TASKS[name], entry['teacher']
        seeds = max((len(runs) for runs in entry['results'].values()),
                    default=1)
        top = teacher['metric']
        ax.set_prop_cycle(color=colours)
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
        if outside:
            ax.legend(loc='center left', bbox_to_anchor=(1.0, 0.5),
                      fontsize='small')
        else:
            ax.legend(loc='best', fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_akd_stats(work_dirs: Sequence[str], path: str,
                   labels: Sequence[str], title: str) -> Optional[str]:
    """Runs ``tools/analysis_tools/plot_akd_stats.py`` on ``work_dirs``, in
    its own process as the runs are trained (the tool is a script, not a
    module of this package).

    Args:
        work_dirs: The runs' work dirs.
        path: The PNG to write.
        labels: One legend label per work dir.
        title: The figure's title.

    Returns:
        str | None: Why nothing was plotted (the tool's error, e.g. no run
        logged a statistic), or None if the PNG was written.
    """
    proc = subprocess.run(
        [sys.executable, *PYTHON_OPTIONS, PLOT_AKD_STATS, *work_dirs,
         '--out', path, '--labels', *labels, '--title', title],
        capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    error = (proc.stderr.strip().splitlines() or [
        f'exit status {proc.returncode}'])[-1]
    prefix = 'plot_akd_stats: '  # how the tool's main() words its errors
    return error[len(prefix):] if error.startswith(prefix) else error


def plot_stats(all_results: Dict[str, dict], suffix: str, work_dir: str,
               log: Callable[[str], None]) -> List[str]:
    """Distill losses and AKD statistics of each task's students (seed 0
    of every method that distils), with :func:`plot_akd_stats`.

    Args:
        all_results: As :func:`plot` takes them.
        suffix: Of the file names, e.g. ``'_study'``.
        work_dir: Where the PNGs go.
        log: Prints a console line (why a task has no plot).

    Returns:
        list[str]: The PNGs written.
    """
    paths = []
    for name, entry in all_results.items():
        runs = [(method, runs[0]['work_dir'])
                for method, runs in entry['results'].items()
                if method != 'no KD' and runs[0].get('work_dir')]
        if not runs:
            continue
        path = osp.join(work_dir, f'akd_stats_{name}{suffix}.png')
        error = plot_akd_stats([d for _, d in runs], path,
                               [m for m, _ in runs], f'Digit Scenes {name}')
        if error:
            log(f'{name}: no statistics plot: {error}')
            continue
        paths.append(path)
    return paths
