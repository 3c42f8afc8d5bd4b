"""Plot the distill losses and AKD statistics of training runs.

Reads mmengine's ``vis_data/scalars.json`` (written by ``LocalVisBackend``,
the default of every OpenMMLab config) of each work dir and draws, against
the iteration, one panel per statistic and loss: the distill losses
(``distill.loss_*``), the mean uncertainty factor ``sigma``
(``distill.akd_sigma.*``) and the RMS Avatar-teacher spread
(``distill.akd_spread.*``) that ``AvatarDistiller`` logs. Several runs are
overlaid, one colour each.

Examples::

    python tools/analysis_tools/plot_akd_stats.py work_dirs/akd-cwd_run
    python tools/analysis_tools/plot_akd_stats.py RUN_A RUN_B \\
        --labels CWD 'CWD + AKD' --out stats.png
    python tools/analysis_tools/plot_akd_stats.py RUN --keys 'grad_norm|lr'
"""
import argparse
import glob
import json
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

#: (row title, pattern): the default rows. A key matching ``pattern`` is
#: drawn in that row, in the column of its ``name`` group.
GROUPS = (
    ('distill loss', r'^distill\.loss_?(?P<name>.+)$'),
    ('sigma (mean)',
     r'^(?:distill\.)?akd_sigma(?P<level>_\d+)?\.(?P<name>.+)$'),
    ('spread (RMS of A - T)',
     r'^(?:distill\.)?akd_spread(?P<level>_\d+)?\.(?P<name>.+)$'),
)
SCALARS = osp.join('vis_data', 'scalars.json')

Series = Dict[str, List[Tuple[int, float]]]


class NoStatistics(ValueError):
    """None of the runs logged a key that the plot would draw."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument(
        'work_dirs', nargs='+', metavar='WORK_DIR',
        help='a work dir (its newest run), a run\'s log dir, or a '
        'scalars.json')
    parser.add_argument('--out', help='the PNG to write (default: '
                        'akd_stats.png in the first WORK_DIR)')
    parser.add_argument('--labels', nargs='+',
                        help='one legend label per WORK_DIR (default: '
                        'their names)')
    parser.add_argument('--keys', help='a regular expression: plot the '
                        'logged keys it matches (re.search) instead of '
                        'the distill losses and AKD statistics')
    parser.add_argument('--title', help='the figure title')
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.work_dirs):
        parser.error(f'--labels: got {len(args.labels)} labels for '
                     f'{len(args.work_dirs)} work dirs')
    return args


def find_scalars(path: str) -> str:
    """The ``scalars.json`` of a work dir, a log dir or the file itself.

    In a work dir, mmengine writes one log dir per run
    (``<work_dir>/<timestamp>/vis_data/scalars.json``); the newest is used.

    Args:
        path (str): A work dir, a log dir or a ``scalars.json``.

    Returns:
        str: The path of the ``scalars.json``.

    Raises:
        FileNotFoundError: There is none.
    """
    if osp.isfile(path):
        return path
    if osp.isfile(osp.join(path, SCALARS)):
        return osp.join(path, SCALARS)
    found = sorted(glob.glob(osp.join(glob.escape(path), '*', SCALARS)))
    if found:
        return found[-1]
    raise FileNotFoundError(
        f'{path}: no {SCALARS} there or in a log dir below it (mmengine\'s '
        'LocalVisBackend writes it; is this a work dir of a training run?)')


def read_series(path: str) -> Series:
    """Every scalar logged in a ``scalars.json``, as ``(step, value)``."""
    series: Series = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}, line {number}: not JSON ({err})')
            step = record.get('step')
            for key, value in record.items():
                if key != 'step' and isinstance(value, (int, float)):
                    series.setdefault(key, []).append((step, float(value)))
    return series


def select(keys: Sequence[str],
           pattern: Optional[str] = None) -> Dict[Tuple[str, str], str]:
    """Which panel each key goes to: ``(row, column) -> key``.

    Args:
        keys (Sequence[str]): Logged keys.
        pattern (str, optional): A regular expression; when given, each key
            it matches is its own panel in one row, else the rows of
            :data:`GROUPS`.

    Returns:
        dict: Panel ``(row title, column name)`` for each selected key.
    """
    panels = {}
    for key in keys:
        if pattern is not None:
            if re.search(pattern, key):
                panels[('', key)] = key
            continue
        for title, group in GROUPS:
            match = re.match(group, key)
            if match:
                name = match.group('name')
                level = match.groupdict().get('level')
                panels[(title, name + (level or ''))] = key
                break
    return panels


def plot_stats(work_dirs: Sequence[str],
               out: str,
               labels: Optional[Sequence[str]] = None,
               keys: Optional[str] = None,
               title: Optional[str] = None) -> List[str]:
    """Draws the runs' distill losses and AKD statistics into ``out``.

    Args:
        work_dirs (Sequence[str]): Work dirs, log dirs or ``scalars.json``.
        out (str): The PNG to write.
        labels (Sequence[str], optional): Legend label per run. Defaults to
            the work dirs' names.
        keys (str, optional): A regular expression selecting the keys to
            draw instead of the default groups.
        title (str, optional): Figure title.

    Returns:
        list[str]: The keys drawn.

    Raises:
        FileNotFoundError: A work dir has no ``scalars.json``.
        NoStatistics: No run logged a key to draw (the message lists the
            keys they logged). Nothing is written then.
    """
    paths = [find_scalars(d) for d in work_dirs]
    runs = [read_series(p) for p in paths]
    labels = list(labels) if labels else [_run_name(d) for d in work_dirs]
    panels: Dict[Tuple[str, str], set] = {}
    for series in runs:
        for panel, key in select(list(series), keys).items():
            panels.setdefault(panel, set()).add(key)
    if not panels:
        logged = sorted({k for series in runs for k in series})
        wanted = f'keys matching {keys!r}' if keys else \
            'distill.loss_*, akd_sigma.* or akd_spread.*'
        raise NoStatistics(f'none of {paths} logged {wanted}; they logged: '
                           f'{logged}')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [t for t, _ in GROUPS if any(r == t for r, _ in panels)] or ['']
    columns = sorted({c for _, c in panels})
    fig, axes = plt.subplots(
        len(rows), len(columns), squeeze=False, sharex=True,
        figsize=(3.6 * len(columns), 2.6 * len(rows) + 0.6))
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    drawn = set()
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            ax = axes[i][j]
            panel_keys = panels.get((row, column), set())
            for k, (series, label) in enumerate(zip(runs, labels)):
                for key in sorted(panel_keys & set(series)):
                    steps, values = zip(*series[key])
                    ax.plot(steps, values, color=colours[k % len(colours)],
                            label=label, linewidth=1.2)
                    drawn.add(key)
            if not panel_keys:
                ax.set_axis_off()
                continue
            ax.set_title(' / '.join(sorted(panel_keys)), fontsize='small')
            if j == 0 and row:
                ax.set_ylabel(row)
            if i == len(rows) - 1:
                ax.set_xlabel('iteration')
            ax.grid(alpha=0.3)
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc='upper center',
               ncol=min(len(handles), 4), fontsize='small', frameon=False)
    if title:
        fig.suptitle(title, y=0.995, x=0.01, ha='left', fontsize='medium')
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return sorted(drawn)


def _run_name(path: str) -> str:
    """A short legend label: the work dir's name, not its timestamp dir's."""
    path = osp.normpath(path)
    if osp.isfile(path):  # .../<run>/<timestamp>/vis_data/scalars.json
        path = osp.dirname(osp.dirname(path))
    name = osp.basename(path)
    if re.fullmatch(r'\d{8}_\d{6}', name):
        name = osp.basename(osp.dirname(path))
    return name


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    out = args.out or osp.join(args.work_dirs[0], 'akd_stats.png')
    try:
        drawn = plot_stats(args.work_dirs, out, args.labels, args.keys,
                           args.title)
    except (FileNotFoundError, NoStatistics) as err:
        raise SystemExit(f'plot_akd_stats: {err}')
    print(f'{len(drawn)} keys of {len(args.work_dirs)} run(s): {out}')


if __name__ == '__main__':
    main()
