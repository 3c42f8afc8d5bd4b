"""Evaluate the teacher's Avatars as inference models, alone and as ensembles.

AKD calls its Avatars "inference ensemble models derived from the teacher".
On the config's validation set (``val_dataloader``), with its evaluator
(``val_evaluator``), this tool evaluates, one table row each:

1. the teacher (CKPT);
2. one Avatar: the teacher with the output of each distilled point (the
   module each teacher recorder records, e.g. ``neck`` or
   ``decode_head.conv_seg``) replaced by one Avatar ``P(T)``, drawn by
   mmakd's AvatarGenerator, the rest of the forward unchanged;
3. for each N of ``--num-avatars``, the ensemble of N Avatars (distinct
   draws): their head outputs averaged before decoding (a dense head's
   scores, boxes and centerness/objectness per level, then its
   ``predict_by_feat``; a segmentor's logits, then its own postprocessing);
4. with ``--teacher-ckpts``, the ensemble of the real teachers (CKPT and the
   extra checkpoints), averaged the same way.

Avatar i of a batch is the same draw in every row (the 1-Avatar row is
Avatar 0, and the N-Avatar ensemble holds the first N): the draws depend
only on ``--seed``, the point, i and the batch. Seconds are each row's
inference time over the set (its forwards, averaging and decoding; not the
data loading or the metric). The table is printed; ``--out`` gets it in
JSON with the settings: ``points`` (recorder -> module), ``perturbation``,
``seed``, ``samples``, ``metrics`` (the table's columns) and ``rows``
(``model``, ``members``, ``metrics``, ``seconds``).

Supported teachers: mmdet single-stage detectors with a RetinaNet, FCOS,
GFL, ATSS, RTMDet or YOLOX head, and mmseg EncoderDecoder segmentors.

Examples::

    # the demo's CWD + AKD recipe and its trained teacher
    python tools/analysis_tools/eval_avatars.py \\
        projects/digit_scenes/configs/akd-cwd_fpn_*.py \\
        work_dirs/akd_demo/det/teacher_600i/iter_600.pth \\
        --num-avatars 4 8 --out avatars.json
    # Gaussian noise instead, and two more teachers for the comparison
    python tools/analysis_tools/eval_avatars.py CONFIG teacher_a.pth \\
        --perturbation GaussianNoise --strength 0.2 \\
        --teacher-ckpts teacher_b.pth teacher_c.pth

CKPT is the teacher's checkpoint, or a distillation checkpoint (its
``teacher.`` weights are taken); every checkpoint must fit the config's
teacher exactly (keys and shapes). Bad input exits with status 2 and writes
nothing.
"""
import argparse
import contextlib
import copy
import io
import json
import logging
import os
import os.path as osp
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence

# mmengine reloads pkg_resources, whose deprecation warning setuptools
# repeats each time; only that message is silenced.
warnings.filterwarnings(
    'ignore',
    message='pkg_resources is deprecated as an API',
    category=UserWarning)

# First: MMRazor 1.0.0 cannot be imported on torch 2.x without mmakd's fixes.
import mmakd  # noqa: E402,F401 isort: split
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from mmakd.evaluation import (EvalAvatarsError, Member,  # noqa: E402
                              avatar_members, build_generator, build_teacher,
                              distilled_points, ensemble_predict,
                              load_teacher_weights, perturbation_cfg,
                              select_teacher, task_of)
from mmakd.models.avatars import PERTURBATIONS  # noqa: E402
from mmakd.utils import load_config  # noqa: E402


@dataclass
class Row:
    """One evaluated model: a name, its members and what it measured.

    Attributes:
        name (str): The table's row name.
        members (list[Member]): The forwards it averages.
        evaluator: Its own ``val_evaluator``.
        seconds (float): Its inference time so far.
        metrics (dict): The evaluator's results, once evaluated.
    """
    name: str
    members: List[Member]
    evaluator: Any = None
    seconds: float = 0.0
    metrics: Dict[str, Any] = field(default_factory=dict)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line.

    Args:
        argv (Sequence[str], optional): The arguments. Defaults to
            ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('config', metavar='CONFIG', help='a distillation '
                        'config (with '
                        '`model.teacher` and teacher recorders)')
    parser.add_argument('checkpoint', metavar='CKPT', help="the teacher's "
                        'checkpoint, or a distillation checkpoint')
    parser.add_argument('--num-avatars', type=int, nargs='+', default=[4, 8],
                        metavar='N', help='sizes of the Avatar ensembles '
                        '(ints >= 1; default: 4 8)')
    parser.add_argument('--perturbation', help='a registered perturbation '
                        f'type ({", ".join(sorted(PERTURBATIONS.module_dict))}'
                        "; default: the config's generator's, else "
                        'ElementDropout)')
    parser.add_argument('--strength', type=float, help="the perturbation's "
                        "p or std (default: the config's)")
    parser.add_argument('--points', nargs='+', help='teacher recorders whose '
                        "modules are perturbed (default: all the config's "
                        'teacher recorders)')
    parser.add_argument('--teacher-ckpts', nargs='+', default=[],
                        metavar='CKPT', help='more checkpoints of the same '
                        'teacher: their ensemble with CKPT is the last row')
    parser.add_argument('--teacher', help='with several teachers '
                        '(`model.teachers`): the one evaluated')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the Avatar draws (default: 0)')
    parser.add_argument('--device', default='cpu',
                        help='cpu (default), cuda or cuda:N')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value, as '
                        'tools/test.py')
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> torch.device:
    """Checks what needs no config; returns the device.

    Args:
        args (argparse.Namespace): The command line.

    Raises:
        EvalAvatarsError: An N < 1, or a device that is not here.
    """
    bad = [n for n in args.num_avatars if n < 1]
    if bad:
        raise EvalAvatarsError(
            'eval_avatars: `--num-avatars` must be ints >= 1, but got '
            f'{args.num_avatars}')
    try:
        device = torch.device(args.device)
    except RuntimeError as err:
        raise EvalAvatarsError(
            "eval_avatars: `--device` must be 'cpu', 'cuda' or 'cuda:N', "
            f'but got {args.device!r} ({err})') from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise EvalAvatarsError(
            "eval_avatars: `--device` must be a device of this machine, but "
            f'got {args.device!r} and torch sees no CUDA device')
    if device.type not in ('cpu', 'cuda'):
        raise EvalAvatarsError(
            "eval_avatars: `--device` must be 'cpu', 'cuda' or 'cuda:N', "
            f'but got {args.device!r}')
    return device


def load_distill_config(path: str,
                        cfg_options: Optional[Dict] = None,
                        teacher: Optional[str] = None) -> Config:
    """The config, with ``--cfg-options`` merged; it must distil.

    Args:
        path (str): CONFIG, a file or ``'package::path'``.
        cfg_options (dict, optional): ``--cfg-options``.
        teacher (str, optional): ``--teacher``: of several teachers, the
            one the config is read with.

    Raises:
        EvalAvatarsError: It does not exist, or has no ``model.teacher``,
            ``model.distiller``, ``val_dataloader`` or ``val_evaluator``.
    """
    if '::' not in path and not osp.isfile(path):
        raise EvalAvatarsError(
            f'eval_avatars: CONFIG must be a config file, but {path!r} does '
            'not exist')
    cfg = load_config(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    select_teacher(cfg, teacher)
    model = cfg.get('model') or {}
    missing = [key for key in ('teacher', 'distiller') if key not in model]
    if missing:
        raise EvalAvatarsError(
            'eval_avatars: CONFIG must be a distillation config with '
            '`model.teacher` and `model.distiller`, but the model of '
            f'{path} ({model.get("type")!r}) has no '
            f'{" or ".join(f"`model.{m}`" for m in missing)}')
    missing = [key for key in ('val_dataloader', 'val_evaluator')
               if not cfg.get(key)]
    if missing:
        raise EvalAvatarsError(
            'eval_avatars: CONFIG must have a validation set to evaluate on '
            f'(`val_dataloader`, `val_evaluator`), but {path} has no '
            f'{" or ".join(f"`{m}`" for m in missing)}')
    return cfg


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Within: pycocotools' prints and the metrics' INFO logs are kept off
    the console (the table has the results)."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def build_rows(teacher: torch.nn.Module, extra_teachers: List,
               points: Dict[str, str], generator, num_avatars: Sequence[int],
               seed: int) -> List[Row]:
    """The rows: teacher, 1 Avatar, each N-Avatar ensemble (N > 1, in
    increasing order), and the teacher ensemble where there are extras.

    Each row has members of its own, so each draws from the start: Avatar
    i is the same draw in every row.

    Args:
        teacher (nn.Module): The teacher, CKPT loaded.
        extra_teachers (list[nn.Module]): The ``--teacher-ckpts`` teachers.
        points (dict[str, str]): Point name -> module name.
        generator (AvatarGenerator): Draws the Avatars.
        num_avatars (Sequence[int]): ``--num-avatars``.
        seed (int): ``--seed``.
    """
    rows = [
        Row('teacher', [Member(teacher)]),
        Row('1 Avatar', avatar_members(teacher, points, generator, 1, seed))
    ]
    for num in sorted(set(num_avatars)):
        if num > 1:
            rows.append(
                Row(f'{num}-Avatar ensemble',
                    avatar_members(teacher, points, generator, num, seed)))
    if extra_teachers:
        members = [Member(t) for t in [teacher] + list(extra_teachers)]
        rows.append(Row(f'teacher ensemble ({len(members)})', members))
    return rows


def evaluate(rows: List[Row], dataloader, preprocessor,
             device: torch.device) -> None:
    """Runs every row on every batch (each batch loaded once); sets each
    row's ``seconds`` and ``metrics``.

    Args:
        rows (list[Row]): The rows, the teacher first.
        dataloader (DataLoader): The validation set.
        preprocessor (nn.Module): The teacher's data preprocessor.
        device (torch.device): Where the models are (for timing).
    """
    from mmengine.utils import ProgressBar
    size = len(dataloader.dataset)
    bar = ProgressBar(size, file=sys.stdout)
    with torch.no_grad():
        for step, data in enumerate(dataloader):
            batch = preprocessor(data, False)
            if step == 0:  # warm-up, so that no row pays the one-off costs
                ensemble_predict(rows[0].members, batch['inputs'],
                                 copy.deepcopy(batch['data_samples']), step)
            for row in rows:
                samples = copy.deepcopy(batch['data_samples'])
                start = time.perf_counter()
                predictions = ensemble_predict(row.members, batch['inputs'],
                                               samples, step)
                if device.type == 'cuda':
                    torch.cuda.synchronize(device)
                row.seconds += time.perf_counter() - start
                row.evaluator.process(data_samples=predictions,
                                      data_batch=data)
            bar.update(len(batch['data_samples']))
    sys.stdout.write('\n')
    with quiet():
        for row in rows:
            row.metrics = row.evaluator.evaluate(size)


def _number(value: Any) -> Optional[float]:
    """A metric's value as a float, or None if it is no number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def metric_keys(rows: List[Row]) -> List[str]:
    """The numeric metrics of the rows, in the evaluator's order."""
    keys = []
    for row in rows:
        keys += [k for k, v in row.metrics.items()
                 if _number(v) is not None and k not in keys]
    return keys


def markdown_table(rows: List[Row]) -> str:
    """A row per model; columns: members, the metrics, seconds.

    Args:
        rows (list[Row]): The evaluated rows.
    """
    keys = metric_keys(rows)
    lines = [
        '| ' + ' | '.join(['model', 'members'] + keys + ['seconds']) + ' |',
        '|' + '|'.join(['---'] + ['---:'] * (len(keys) + 2)) + '|'
    ]
    for row in rows:
        values = [_number(row.metrics.get(k)) for k in keys]
        cells = ['' if v is None else f'{v:.4g}' for v in values]
        lines.append('| ' + ' | '.join([row.name, str(len(row.members))] +
                                       cells + [f'{row.seconds:.2f}']) + ' |')
    return '\n'.join(lines)


def _json_value(value: Any) -> Any:
    """A metric's value as JSON can hold it."""
    number = _number(value)
    if number is not None and not isinstance(value, str):
        return number
    return value if isinstance(value, (str, list, dict)) else str(value)


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Evaluates the rows; returns what ``--out`` gets.

    Args:
        args (argparse.Namespace): The command line.

    Raises:
        EvalAvatarsError: Bad input (checked before anything is evaluated).
    """
    device = check_args(args)
    cfg = load_distill_config(args.config, args.cfg_options, args.teacher)
    torch.manual_seed(args.seed)
    teacher, scope = build_teacher(cfg, device)
    task_of(teacher)  # an unsupported head is refused before loading
    points = distilled_points(teacher,
                              cfg.model.distiller.get('teacher_recorders'),
                              args.points)
    generator = build_generator(
        cfg.model.distiller.get('avatar_generator'), args.perturbation,
        args.strength)
    kind = load_teacher_weights(teacher, args.checkpoint, 'CKPT')
    extras = []
    for path in args.teacher_ckpts:
        extra, _ = build_teacher(cfg, device)
        load_teacher_weights(extra, path, '--teacher-ckpts')
        extras.append(extra)

    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    rows = build_rows(teacher, extras, points, generator, args.num_avatars,
                      args.seed)
    with DefaultScope.overwrite_default_scope(scope), quiet():
        dataloader = Runner.build_dataloader(cfg.val_dataloader)
        for row in rows:
            row.evaluator = Evaluator(copy.deepcopy(cfg.val_evaluator))
            row.evaluator.dataset_meta = dataloader.dataset.metainfo
    print(f'eval_avatars: {len(rows)} models on {len(dataloader.dataset)} '
          f'validation samples; Avatars at {points} '
          f'({perturbation_cfg(generator)}, seed {args.seed})')
    with DefaultScope.overwrite_default_scope(scope):
        evaluate(rows, dataloader, teacher.data_preprocessor, device)
    return dict(
        config=args.config,
        checkpoint=args.checkpoint,
        checkpoint_kind=kind,
        teacher_ckpts=list(args.teacher_ckpts),
        points=points,
        perturbation=perturbation_cfg(generator),
        num_avatars=sorted(set(args.num_avatars)),
        seed=args.seed,
        device=str(device),
        samples=len(dataloader.dataset),
        metrics=metric_keys(rows),
        rows=[
            dict(model=row.name, members=len(row.members),
                 metrics={k: _json_value(v)
                          for k, v in row.metrics.items()},
                 seconds=row.seconds) for row in rows
        ],
        table=markdown_table(rows))


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Runs the tool; bad input exits with status 2, writing nothing.

    Args:
        argv (Sequence[str], optional): The arguments. Defaults to
            ``sys.argv[1:]``.
    """
    args = parse_args(argv)
    try:
        results = run(args)
    except EvalAvatarsError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    print(results['table'])
    if args.out:
        folder = osp.dirname(osp.abspath(args.out))
        os.makedirs(folder, exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=1)
        print(f'eval_avatars: results written to {args.out}')


if __name__ == '__main__':
    main()
