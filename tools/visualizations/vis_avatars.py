"""Draw the Avatars of a distillation config on one image.

One teacher forward and one student forward on the image(s); then, for each
teacher record that a distill loss reads (per level of a multi-level
record), one row of panels: the input, the teacher feature ``T``, N Avatars
``A_i``, the uncertainty map ``U = E_i[(A_i - T)^2]``, ``sigma`` (the
paper's factor, ``sigma^2 = E_x[U]`` with the loss's floor) and the student
feature ``S`` as the loss reads it. Features are shown as their mean over
channels (or over ``--channels``); Avatars share the teacher's colour scale.
Panels show the first image; with several images, they form the batch over
which ``sigma``'s ``E_x`` runs (as in training; with one image,
``sigma^2`` is ``U`` plus the floor).
Writes ``avatars.png`` and ``avatars.json`` (the statistics per row) to
``--out``.

Examples::

    # the demo's CWD + AKD student (its checkpoint holds the teacher too)
    python tools/visualizations/vis_avatars.py \\
        configs/digit_scenes/akd-cwd_fpn_*.py \\
        work_dirs/akd_demo/det/teacher_600i/cwd+akd_300i_seed0/iter_300.pth \\
        --img data/digit_scenes/val/000000.png --out vis --num-avatars 3
    # an MMRazor recipe with random weights, one record
    python tools/visualizations/vis_avatars.py \\
        mmrazor::distill/mmdet/cwd/cwd_fpn_retina_r101_retina_r50_1x_coco.py \\
        --img demo.jpg --out vis --records fpn

CHECKPOINT is either a distillation checkpoint (``architecture.*`` and
``teacher.*`` keys: student and teacher are loaded) or a plain model
checkpoint of the teacher (the student keeps random weights). Without it
every weight is random.
"""
import argparse
import copy
import json
import logging
import os
import os.path as osp
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

# mmengine reloads pkg_resources, whose deprecation warning setuptools
# repeats each time; only that message is silenced.
warnings.filterwarnings(
    'ignore',
    message='pkg_resources is deprecated as an API',
    category=UserWarning)

# First: MMRazor 1.0.0 cannot be imported on torch 2.x without mmakd's fixes.
import mmakd  # noqa: E402,F401 isort: split
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import mmakd.models.losses.uncertainty_aware_kd_loss as akd_loss  # noqa: E402
from mmakd import utils as akd_utils  # noqa: E402
from mmakd.models import AvatarGenerator, UncertaintyAwareKDLoss  # noqa: E402
from mmakd.models.algorithms import strict_teacher  # noqa: E402
from mmakd.models.losses import uncertainty as akd_u  # noqa: E402
from mmakd.utils.checkpoint_guard import is_distillation_state  # noqa: E402

DEFAULT_EPS = 1e-2


class VisError(ValueError):
    """Bad input: the message says what and what is expected."""


@dataclass
class Row:
    """One teacher record (one level of it) and what is drawn of it."""
    record: str
    data_idx: Optional[int]
    loss_name: str
    loss: torch.nn.Module
    student_key: str
    teacher_key: str
    teacher: torch.Tensor  # T, (B, ...)
    avatars: torch.Tensor  # A, (N, B, ...)
    sq_diff: torch.Tensor  # U, (B, ...)
    sigma: torch.Tensor  # (1, ...), shared by the batch
    student: torch.Tensor  # S as the loss reads it, (B, ...)
    uncertainty: str

    @property
    def name(self) -> str:
        return self.record + ('' if self.data_idx is None else
                              f'[{self.data_idx}]')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('config', help='a distillation config (a path or '
                        "'mmrazor::distill/...')")
    parser.add_argument('checkpoint', nargs='?', help='a distillation or '
                        'teacher checkpoint (default: random weights)')
    parser.add_argument('--img', required=True, nargs='+',
                        help='the input image; more images make the batch '
                        'of sigma\'s expectation (panels show the first)')
    parser.add_argument('--out', required=True, help='the output directory')
    parser.add_argument('--records', nargs='+', help='teacher records to '
                        'draw (default: every record a distill loss reads)')
    parser.add_argument('--num-avatars', type=int, help='Avatars to draw '
                        "(default: the config's generator's N)")
    parser.add_argument('--channels', nargs='+', type=int, help='average '
                        'these channels instead of all of them')
    parser.add_argument('--seed', type=int, default=0, help='random seed of '
                        'the weights (without checkpoint) and the Avatars')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.num_avatars is not None and args.num_avatars < 1:
        parser.error(f'--num-avatars must be >= 1, but got '
                     f'{args.num_avatars}')
    return args


def load_distill_config(config: str,
                        cfg_options: Optional[Dict] = None) -> Config:
    """The config with every checkpoint dropped; it must have a distiller.

    Raises:
        VisError: The config has no ``model.distiller``.
    """
    cfg = akd_utils.load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = cfg.get('model') or {}
    if not isinstance(model, dict) or 'distiller' not in model:
        raise VisError(
            f'{config}: `model.distiller` not found (model type '
            f'{model.get("type") if isinstance(model, dict) else None!r}); '
            'expected a distillation config, e.g. an MMRazor recipe or '
            'configs/digit_scenes/akd-*.py')
    cfg.model = akd_utils.resolve_cfg_paths(cfg.model)
    akd_utils.disable_downloads(cfg)
    return cfg


def _task_scope(cfg: Config) -> str:
    scope = cfg.model.architecture.get('_scope_') or cfg.get('default_scope')
    if scope not in ('mmdet', 'mmseg'):
        raise VisError(
            f'the student architecture is in scope {scope!r}; expected an '
            "mmdet or mmseg model (`model.architecture._scope_`)")
    return scope


def build_model(cfg: Config, seed: int) -> torch.nn.Module:
    """The distillation model with random weights, in eval mode."""
    from mmrazor.registry import MODELS
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmrazor'):
        model = MODELS.build(cfg.model)
    if hasattr(model, 'init_weights'):
        # Its report of every parameter's initialiser is INFO.
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    # MMRazor's algorithms override train() without returning the module.
    model.eval()
    return model


def load_weights(model: torch.nn.Module, path: str) -> str:
    """Loads a distillation or teacher checkpoint; says which it was.

    Raises:
        VisError: The file is missing, unreadable, or of another
            architecture (the message lists the first mismatched keys).
    """
    from mmengine.runner import CheckpointLoader
    if not osp.isfile(path):
        raise VisError(f'checkpoint {path!r} does not exist')
    try:
        checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    except Exception as err:
        raise VisError(f'checkpoint {path!r} cannot be read '
                       f'({type(err).__name__}: {err})') from err
    state = checkpoint.get('state_dict', checkpoint) \
        if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise VisError(f'checkpoint {path!r} holds no state dict')
    state = strict_teacher.unwrapped_keys(state)
    distill = is_distillation_state(state)
    target, kind = (model, 'distillation') if distill else (model.teacher,
                                                            'teacher')
    problems = strict_teacher.state_dict_mismatches(
        target, state, name='model')
    if problems:
        raise VisError(
            f'checkpoint {path!r} does not fit this config\'s '
            f'{"model" if distill else "teacher"} (read as a {kind} '
            f'checkpoint; {len(problems)} problems):'
            f'{strict_teacher.problem_list(problems, 12)}\n'
            'Was it trained with another architecture or config?')
    target.load_state_dict(state, strict=False)
    return kind


def load_image(path: str, cfg: Config, scope: str) -> Dict[str, Any]:
    """The image through the config's test pipeline, without annotations.

    Raises:
        VisError: The image does not exist.
    """
    if not osp.isfile(path):
        raise VisError(f'--img {path!r} does not exist')
    from mmengine.dataset import Compose
    if scope == 'mmdet':
        from mmdet.utils import register_all_modules
    else:
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    pipeline = [
        t for t in copy.deepcopy(loader.dataset.pipeline)
        if not str(t['type']).endswith('LoadAnnotations')
    ]
    with DefaultScope.overwrite_default_scope(scope):
        data = Compose(pipeline)(dict(img_path=path, img_id=0))
    return data


def _loss_keys(loss: torch.nn.Module,
               mapping: Dict[str, Dict]) -> Optional[Tuple[str, str]]:
    """(student, teacher) forward arguments of a loss, or None."""
    if isinstance(loss, UncertaintyAwareKDLoss):
        return loss.student_key, loss.teacher_key
    for student_key, teacher_key in akd_loss.KNOWN_KEY_PAIRS:
        if student_key in mapping and teacher_key in mapping:
            return student_key, teacher_key
    students = [k for k, r in mapping.items() if r.get('from_student')]
    teachers = [k for k, r in mapping.items()
                if r.get('from_student') is False]
    if len(students) == 1 and len(teachers) == 1:
        return students[0], teachers[0]
    return None


def _pairs(distiller) -> List[Tuple[str, str, str, Dict, Dict]]:
    """(loss name, student key, teacher key, student record, teacher
    record) per distill loss that compares a student and a teacher input."""
    pairs = []
    for name, mapping in distiller.loss_forward_mappings.items():
        keys = _loss_keys(distiller.distill_losses[name], mapping)
        if keys is not None:
            pairs.append((name, *keys, mapping[keys[0]], mapping[keys[1]]))
    return pairs


def _generator(distiller, loss_name: str,
               num_avatars: Optional[int]) -> AvatarGenerator:
    """The generator the loss draws its Avatars with (a copy, with N)."""
    loss = distiller.distill_losses[loss_name]
    own = getattr(distiller, '_own_generators', set())
    if hasattr(distiller, 'avatar_generator') and loss_name not in own:
        generator = distiller.avatar_generator
    elif getattr(loss, 'avatar_generator', None) is not None:
        generator = loss.avatar_generator
    else:  # no generator of its own: what AKD's defaults would draw
        generator = AvatarGenerator()
    generator = copy.deepcopy(generator)
    if num_avatars is not None:
        generator.num_avatars = num_avatars
    return generator


def draw_rows(model: torch.nn.Module,
              data: List[Dict[str, Any]],
              records: Optional[Sequence[str]] = None,
              num_avatars: Optional[int] = None,
              seed: int = 0) -> List[Row]:
    """One teacher and one student forward; the Avatars of each record.

    Args:
        model: A distillation model (``teacher``, ``architecture``,
            ``distiller``).
        data (list[dict]): Samples from the test pipeline: the batch.
        records (Sequence[str], optional): Teacher record names to draw.
            Defaults to every record a distill loss reads.
        num_avatars (int, optional): N. Defaults to the generator's.
        seed (int): Seed of the Avatars' draw. Defaults to 0.

    Returns:
        list[Row]: One per record and level, in the losses' order.

    Raises:
        VisError: A name in ``records`` is not a record that a distill loss
            reads (the message lists those).
    """
    distiller = model.distiller
    pairs = _pairs(distiller)
    available = list(dict.fromkeys(t['recorder'] for *_, t in pairs))
    if records:
        unknown = [r for r in records if r not in available]
        if unknown:
            raise VisError(
                f'--records: unknown {unknown}; the teacher records that a '
                f'distill loss reads are {available}')
    with torch.no_grad():
        batch = model.data_preprocessor(
            dict(inputs=[d['inputs'] for d in data],
                 data_samples=[d['data_samples'] for d in data]), False)
        inputs, samples = batch['inputs'], batch['data_samples']
        # As MMRazor's algorithms do: the teacher's deliveries record, the
        # student's replay them.
        distiller.set_deliveries_override(False)
        with distiller.teacher_recorders, distiller.deliveries:
            model.teacher(inputs, samples, mode='tensor')
        distiller.set_deliveries_override(True)
        with distiller.student_recorders, distiller.deliveries:
            model.architecture(inputs, samples, mode='tensor')
        rows, seen = [], set()
        torch.manual_seed(seed)
        for name, s_key, t_key, s_rec, t_rec in pairs:
            if records and t_rec['recorder'] not in records:
                continue
            ident = tuple(sorted((k, str(v)) for k, v in t_rec.items()))
            if ident in seen:
                continue
            seen.add(ident)
            teacher = distiller.get_record(**t_rec)
            student = distiller.get_record(**s_rec)
            if isinstance(teacher, (tuple, list)):
                raise VisError(
                    f'loss {name!r} reads all levels of record '
                    f'{t_rec["recorder"]!r} at once; give the mapping a '
                    '`data_idx` per level')
            avatars = _generator(distiller, name, num_avatars)(teacher)
            loss = distiller.distill_losses[name]
            sq_diff = akd_u.avatar_sq_diff(teacher, avatars)
            eps = getattr(loss, 'eps', DEFAULT_EPS)
            rows.append(
                Row(t_rec['recorder'], t_rec.get('data_idx'), name, loss,
                    s_key, t_key, teacher.detach(), avatars, sq_diff,
                    akd_u.paper_sigma(sq_diff, eps), student.detach(),
                    getattr(loss, 'uncertainty', 'no AKD')))
    return rows


def _reduce(x: torch.Tensor, channels: Optional[Sequence[int]]) -> np.ndarray:
    """A 2D map of the first sample of a ``(B, C, ...)`` tensor: the mean
    over its (chosen) channels."""
    x = x.detach().float()[0]
    if x.dim() == 1:  # (C,): a strip
        return x[None].numpy()
    if channels is not None:
        if max(channels) >= x.shape[0] or min(channels) < -x.shape[0]:
            raise VisError(f'--channels {list(channels)}: the feature has '
                           f'{x.shape[0]} channels')
        x = x[list(channels)]
    x = x.mean(dim=0)
    if x.dim() == 1:
        return x[None].numpy()
    return x.reshape(x.shape[0], -1).numpy()


def render(rows: List[Row],
           image: np.ndarray,
           path: str,
           title: str = '',
           channels: Optional[Sequence[int]] = None) -> List[Dict[str, Any]]:
    """Writes the panel grid: one row per :class:`Row`, N + 5 columns.

    Columns: input, teacher, the N Avatars, U, sigma, student. Panels sit on
    a fixed grid (white gaps between them), so the PNG's layout is known.

    Args:
        rows (list[Row]): What :func:`draw_rows` returned.
        image (np.ndarray): The input as the network saw it, RGB, HxWx3.
        path (str): The PNG to write.
        title (str): The figure title.
        channels (Sequence[int], optional): Channels to average.

    Returns:
        list[dict]: Per row, the 2D arrays drawn (``teacher``, ``avatars``,
        ``U``, ``sigma``, ``student``).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    num_avatars = rows[0].avatars.shape[0]
    cols = num_avatars + 5
    panel, gap, head, top = 1.5, 0.15, 0.5, 0.55
    width = cols * panel + (cols + 1) * gap
    height = top + len(rows) * (panel + head)
    fig = plt.figure(figsize=(width, height))
    fig.suptitle(title, x=gap / width, y=1 - 0.08 / height, ha='left',
                 va='top', fontsize=9)
    drawn = []
    for r, row in enumerate(rows):
        maps = dict(
            teacher=_reduce(row.teacher, channels),
            avatars=[_reduce(a, channels) for a in row.avatars],
            U=_reduce(row.sq_diff, channels),
            sigma=_reduce(row.sigma, channels),
            student=_reduce(row.student, channels))
        drawn.append(maps)
        vmin, vmax = float(maps['teacher'].min()), float(
            maps['teacher'].max())
        panels = [(image, f'input\n{row.name}, {row.uncertainty}', {})]
        panels.append((maps['teacher'],
                       f'teacher T {tuple(row.teacher.shape)}',
                       dict(cmap='viridis', vmin=vmin, vmax=vmax)))
        panels += [(a, f'Avatar {i + 1}', dict(
            cmap='viridis', vmin=vmin, vmax=vmax))
            for i, a in enumerate(maps['avatars'])]
        panels.append((maps['U'],
                       'U = E_i[(A_i - T)^2]\nfeature mean '
                       f'{row.sq_diff.mean():.3g}',
                       dict(cmap='magma')))
        panels.append((maps['sigma'], 'sigma (paper, sampled)\nfeature mean '
                       f'{row.sigma.mean():.3g}', dict(cmap='magma')))
        panels.append((maps['student'], f'student S\n{row.loss_name}',
                       dict(cmap='viridis')))
        bottom = height - top - (r + 1) * (panel + head) + head * 0.1
        for c, (array, label, style) in enumerate(panels):
            left = gap + c * (panel + gap)
            ax = fig.add_axes((left / width, bottom / height, panel / width,
                               panel / height))
            ax.imshow(array, interpolation='nearest', aspect='auto', **style)
            ax.set_axis_off()
            ax.set_title(label, fontsize=7)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return drawn


def _input_image(data: Dict[str, Any]) -> np.ndarray:
    """The packed input (BGR, CxHxW) as an RGB HxWx3 array."""
    img = data['inputs'].detach().cpu().numpy().transpose(1, 2, 0)
    return np.ascontiguousarray(img[..., ::-1]).astype(np.uint8)


def summary(rows: List[Row]) -> List[Dict[str, Any]]:
    """The statistics of each row, as written to ``avatars.json``."""
    return [
        dict(record=row.record, data_idx=row.data_idx, loss=row.loss_name,
             uncertainty=row.uncertainty, shape=list(row.teacher.shape),
             num_avatars=int(row.avatars.shape[0]),
             mean_sigma=float(row.sigma.mean()),
             spread=float(akd_u.rms(row.sq_diff)),
             mean_U=float(row.sq_diff.mean())) for row in rows
    ]


def visualise(args: argparse.Namespace) -> str:
    """Runs the tool; returns the PNG written. Nothing is written on error.

    Raises:
        VisError: Bad input (missing image, no distiller, a checkpoint of
            another architecture, an unknown record or channel).
    """
    for img in args.img:
        if not osp.isfile(img):
            raise VisError(f'--img {img!r} does not exist')
    cfg = load_distill_config(args.config, args.cfg_options)
    scope = _task_scope(cfg)
    model = build_model(cfg, args.seed)
    weights = 'random weights'
    if args.checkpoint:
        kind = load_weights(model, args.checkpoint)
        weights = f'{kind} checkpoint {osp.basename(args.checkpoint)}' + (
            ', student random' if kind == 'teacher' else '')
    data = [load_image(img, cfg, scope) for img in args.img]
    rows = draw_rows(model, data, args.records, args.num_avatars, args.seed)
    if not rows:
        raise VisError(f'{args.config}: no distill loss compares a student '
                       'and a teacher record; nothing to draw')
    for row in rows:  # check the channels before writing anything
        _reduce(row.teacher, args.channels)
    generator = _generator(model.distiller, rows[0].loss_name,
                           args.num_avatars)
    title = (f'{osp.basename(args.config)} ({weights})\n'
             f'{osp.basename(args.img[0])} (batch of {len(data)}); '
             f'{generator.num_avatars} Avatar(s): '
             f'{generator.perturbations}; channels: '
             f'{args.channels if args.channels else "mean of all"}')
    os.makedirs(args.out, exist_ok=True)
    path = osp.join(args.out, 'avatars.png')
    render(rows, _input_image(data[0]), path, title, args.channels)
    with open(osp.join(args.out, 'avatars.json'), 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                       img=args.img, seed=args.seed, rows=summary(rows)),
                  f, indent=1)
    return path


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        path = visualise(args)
    except VisError as err:
        sys.exit(f'vis_avatars: {err}')
    print(f'Avatars drawn: {path}')


if __name__ == '__main__':
    main()
