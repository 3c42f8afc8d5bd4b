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

A loss's Avatars come from the generator that makes them in training (the
loss's own, else the distiller's; AKD's default for a config without
Avatars), drawn as at the first iteration of a run seeded with ``--seed``.
``U`` and ``sigma`` are the loss's own (with ``sigma='expected'``, the
closed form of the perturbations); a loss without Avatars is read through
an ``UncertaintyAwareKDLoss`` with default options.

Writes ``avatars.png`` and ``avatars.json`` (the statistics per row) to
``--out``.

Examples::

    # the demo's CWD + AKD student (its checkpoint holds the teacher too)
    python tools/visualizations/vis_avatars.py \\
        projects/digit_scenes/configs/akd-cwd_fpn_*.py \\
        work_dirs/akd_demo/det/teacher_600i/cwd+akd_300i_seed0/iter_300.pth \\
        --img data/digit_scenes/val/000000.png --out vis --num-avatars 3
    # an MMRazor recipe with random weights, one record
    python tools/visualizations/vis_avatars.py \\
        mmrazor::distill/mmdet/cwd/cwd_fpn_retina_r101_retina_r50_1x_coco.py \\
        --img demo.jpg --out vis --records fpn

CHECKPOINT is either a distillation checkpoint (``architecture.*`` and
``teacher.*`` keys: student and teacher are loaded) or a plain model
checkpoint of the teacher (the student keeps random weights). Without it
every weight is random. With several teachers (``MultiTeacherDistill``),
each teacher's records are rows of their own (``<teacher>.<recorder>``);
``--teacher NAME`` draws only that teacher's, and a plain teacher
checkpoint needs it (the checkpoint is loaded into that teacher).
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

from mmakd import utils as akd_utils  # noqa: E402
from mmakd.models import AvatarGenerator, UncertaintyAwareKDLoss  # noqa: E402
from mmakd.models.algorithms import strict_teacher  # noqa: E402
from mmakd.models.losses import uncertainty as akd_u  # noqa: E402
from mmakd.models.losses.base_losses import resolve_keys  # noqa: E402
from mmakd.utils.checkpoint_guard import is_distillation_state  # noqa: E402


class VisError(ValueError):
    """Bad input: the message says what and what is expected."""


@dataclass
class Row:
    """One teacher record (one level of it) and what is drawn of it.

    Attributes:
        record (str): The teacher record's name.
        data_idx (int, optional): Its level, for a multi-level record.
        loss_name (str): The distill loss that reads it.
        loss (UncertaintyAwareKDLoss): That loss, or, for a loss without
            Avatars, an ``UncertaintyAwareKDLoss`` with default options
            around it: what computed ``sq_diff`` and ``sigma``.
        student_key (str): The loss's student argument.
        teacher_key (str): The loss's teacher argument.
        teacher (Tensor): ``T``, ``(B, ...)``.
        avatars (Tensor): ``A``, ``(N, B, ...)``.
        generator (AvatarGenerator): The seeded copy that drew ``avatars``.
        sq_diff (Tensor): ``U`` as the loss's sigma uses it, ``(B, ...)``:
            drawn, or in closed form with ``sigma='expected'``.
        sigma (Tensor): The loss's paper sigma, ``(1, ...)``, shared by the
            batch.
        spread (Tensor): The RMS Avatar-teacher difference of the drawn
            Avatars (a scalar), as training logs it.
        sigma_mode (str): What ``sq_diff`` is: ``'sampled'`` (from the
            drawn Avatars) or ``'expected'`` (closed form).
        student (Tensor): ``S`` as the loss reads it, ``(B, ...)``.
        uncertainty (str): The loss's ``uncertainty``, or ``'no AKD'``.
    """
    record: str
    data_idx: Optional[int]
    loss_name: str
    loss: UncertaintyAwareKDLoss
    student_key: str
    teacher_key: str
    teacher: torch.Tensor
    avatars: torch.Tensor
    generator: AvatarGenerator
    sq_diff: torch.Tensor
    sigma: torch.Tensor
    spread: torch.Tensor
    sigma_mode: str
    student: torch.Tensor
    uncertainty: str

    @property
    def name(self) -> str:
        """The record's name, with ``[level]`` for a multi-level one."""
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
    parser.add_argument('--teacher', help='with several teachers: draw '
                        "this teacher's records only (and load a plain "
                        'teacher checkpoint into it)')
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
            'projects/digit_scenes/configs/akd-*.py')
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


def teacher_of(model: torch.nn.Module,
               name: Optional[str]) -> torch.nn.Module:
    """The teacher of a distillation model; with several teachers
    (``TeacherGroup``), the one called ``name``.

    Raises:
        VisError: ``name`` given for one teacher, or missing or unknown
            for several.
    """
    names = getattr(model.teacher, 'names', None)
    if names is None:
        if name is not None:
            raise VisError(f'--teacher {name}: the config has one teacher; '
                           'leave --teacher out')
        return model.teacher
    if name not in names:
        raise VisError(f'--teacher: expected one of the teachers {names}, '
                       f'but got {name!r}')
    return model.teacher[name]


def load_weights(model: torch.nn.Module, path: str,
                 teacher: Optional[str] = None) -> str:
    """Loads a distillation or teacher checkpoint; says which it was.

    Args:
        model: The distillation model.
        path: The checkpoint.
        teacher: With several teachers, the one a teacher checkpoint is
            loaded into.

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
    target, kind = (model, 'distillation') if distill else (teacher_of(
        model, teacher), 'teacher')
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


def _loss_keys(name: str, loss: torch.nn.Module,
               mapping: Dict[str, Dict]) -> Optional[Tuple[str, str]]:
    """(student, teacher) forward arguments of a distill loss, or None.

    An ``UncertaintyAwareKDLoss`` says them itself; any other loss is read
    as ``AvatarDistiller`` reads it (:func:`resolve_keys` on its
    ``loss_forward_mappings`` entry, else on its signature).

    Args:
        name (str): The loss's name in ``distill_losses``.
        loss (nn.Module): The built loss.
        mapping (dict): Its ``loss_forward_mappings`` entry.

    Returns:
        tuple[str, str] | None: The keys, or None where the loss does not
        compare one student record with one teacher record.
    """
    if isinstance(loss, UncertaintyAwareKDLoss):
        keys = (loss.student_key, loss.teacher_key)
    else:
        try:
            keys = resolve_keys('vis_avatars', name, loss, mapping=mapping)
        except ValueError:
            try:
                keys = resolve_keys('vis_avatars', name, loss)
            except ValueError:
                return None
    records = [mapping.get(key) for key in keys]
    if not all(isinstance(r, dict) for r in records) or \
            records[0].get('from_student') is not True or \
            records[1].get('from_student') is not False:
        return None
    return keys


def _pairs(distiller) -> List[Tuple[str, str, str, Dict, Dict]]:
    """(loss name, student key, teacher key, student record, teacher
    record) per distill loss that compares a student and a teacher input."""
    pairs = []
    for name, mapping in distiller.loss_forward_mappings.items():
        keys = _loss_keys(name, distiller.distill_losses[name], mapping)
        if keys is not None:
            pairs.append((name, *keys, mapping[keys[0]], mapping[keys[1]]))
    return pairs


def _source_generator(distiller,
                      loss_name: str) -> Optional[torch.nn.Module]:
    """The generator that makes a loss's Avatars in training.

    ``AvatarDistiller``'s own rule (``generator_of``: the loss's generator,
    else the distiller's) for its wrapped losses; otherwise the loss's
    generator, else the distiller's, else None (AKD's default).
    """
    loss = distiller.distill_losses[loss_name]
    if isinstance(loss, UncertaintyAwareKDLoss) and hasattr(
            distiller, 'generator_of'):
        return distiller.generator_of(loss_name)
    return getattr(loss, 'avatar_generator', None) or getattr(
        distiller, 'avatar_generator', None)


def _generator(distiller,
               loss_name: str,
               num_avatars: Optional[int] = None,
               seed: int = 0) -> AvatarGenerator:
    """A copy of the generator that makes a loss's Avatars, seeded.

    Args:
        distiller: The model's distiller.
        loss_name (str): The loss's name in ``distill_losses``.
        num_avatars (int, optional): N. Defaults to the generator's.
        seed (int): Seed of the copy's stream (its ``manual_seed``), in
            place of the run's seed. Defaults to 0.

    Returns:
        AvatarGenerator: The copy (the model's generator is untouched); a
        default ``AvatarGenerator()`` where the config has none.
    """
    source = _source_generator(distiller, loss_name)
    generator = AvatarGenerator() if source is None else copy.deepcopy(
        source)
    if num_avatars is not None:
        generator.num_avatars = num_avatars
    return generator.manual_seed(seed)


def _akd_loss(loss: torch.nn.Module, student_key: str,
              teacher_key: str) -> UncertaintyAwareKDLoss:
    """The loss itself if it has Avatars, else an ``UncertaintyAwareKDLoss``
    with default options around it (for its U and sigma)."""
    if isinstance(loss, UncertaintyAwareKDLoss):
        return loss
    return UncertaintyAwareKDLoss(
        base_loss=loss, student_key=student_key, teacher_key=teacher_key)


def draw_rows(model: torch.nn.Module,
              data: List[Dict[str, Any]],
              records: Optional[Sequence[str]] = None,
              num_avatars: Optional[int] = None,
              seed: int = 0) -> List[Row]:
    """One teacher and one student forward; the Avatars of each record.

    Each loss's Avatars come from a copy of the generator that makes them in
    training (see :func:`_generator`), seeded with ``seed``; every copy
    draws as at the first training iteration of a run seeded with ``seed``
    (its records in the losses' order, whatever ``records`` selects), so
    torch's global random state does not change them. ``U`` and ``sigma``
    are the loss's own (:meth:`UncertaintyAwareKDLoss.uncertainty_map`,
    :meth:`UncertaintyAwareKDLoss.paper_sigma`, with the generator's
    perturbations for ``sigma='expected'``).

    Args:
        model: A distillation model (``teacher``, ``architecture``,
            ``distiller``).
        data (list[dict]): Samples from the test pipeline: the batch.
        records (Sequence[str], optional): Teacher record names to draw.
            Defaults to every record a distill loss reads.
        num_avatars (int, optional): N. Defaults to each generator's.
        seed (int): Seed of the Avatars' draw. Defaults to 0.

    Returns:
        list[Row]: One per record and level (and generator), in the losses'
        order.

    Raises:
        VisError: A name in ``records`` is not a record that a distill loss
            reads (the message lists those), or a loss reads every level of
            a record at once.
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
        rows, seen, generators = [], set(), {}
        for name, s_key, t_key, s_rec, t_rec in pairs:
            # As AvatarDistiller does: a record's Avatars are drawn once per
            # generator and shared by the losses that read it.
            source = id(_source_generator(distiller, name))
            ident = (source, tuple(sorted((k, str(v))
                                          for k, v in t_rec.items())))
            if ident in seen:
                continue
            seen.add(ident)
            wanted = not records or t_rec['recorder'] in records
            teacher = distiller.get_record(**t_rec)
            if wanted and isinstance(teacher, (tuple, list)):
                raise VisError(
                    f'loss {name!r} reads all levels of record '
                    f'{t_rec["recorder"]!r} at once; give the mapping a '
                    '`data_idx` per level')
            if source not in generators:
                generators[source] = _generator(distiller, name,
                                                num_avatars, seed)
            generator = generators[source]
            avatars = generator(teacher, step=0)
            if not wanted:
                continue
            original = distiller.distill_losses[name]
            loss = _akd_loss(original, s_key, t_key)
            drawn = akd_u.uncertainty_map(teacher, avatars)
            sq_diff = loss.uncertainty_map(teacher, avatars,
                                           generator.perturbations, drawn)
            rows.append(
                Row(t_rec['recorder'], t_rec.get('data_idx'), name, loss,
                    s_key, t_key, teacher.detach(), avatars, generator,
                    sq_diff,
                    loss.paper_sigma(teacher, avatars,
                                     generator.perturbations, drawn),
                    akd_u.spread(drawn),
                    'sampled' if sq_diff is drawn else 'expected',
                    distiller.get_record(**s_rec).detach(),
                    loss.uncertainty if loss is original else 'no AKD'))
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
    Where rows have different N (a loss with a generator of its own), N is
    the largest: a row with fewer Avatars leaves the columns after them
    empty, and U, sigma and student stay in the last three columns.

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
    cols = max(row.avatars.shape[0] for row in rows) + 5
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
        panels = [(0, image, f'input\n{row.name}, {row.uncertainty}', {})]
        panels.append((1, maps['teacher'],
                       f'teacher T {tuple(row.teacher.shape)}',
                       dict(cmap='viridis', vmin=vmin, vmax=vmax)))
        panels += [(2 + i, a, f'Avatar {i + 1}', dict(
            cmap='viridis', vmin=vmin, vmax=vmax))
            for i, a in enumerate(maps['avatars'])]
        u_label = 'U = E_i[(A_i - T)^2]' if row.sigma_mode == 'sampled' \
            else 'U, closed form (expected)'
        panels.append((cols - 3, maps['U'],
                       f'{u_label}\nmean {row.sq_diff.mean():.3g}, '
                       f'spread {row.spread:.3g}',
                       dict(cmap='magma')))
        panels.append((cols - 2, maps['sigma'],
                       f'sigma (paper, {row.sigma_mode})\nfeature mean '
                       f'{row.sigma.mean():.3g}', dict(cmap='magma')))
        panels.append((cols - 1, maps['student'],
                       f'student S\n{row.loss_name}', dict(cmap='viridis')))
        bottom = height - top - (r + 1) * (panel + head) + head * 0.1
        for c, array, label, style in panels:
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


def _generator_text(generator: AvatarGenerator) -> str:
    """N and the perturbations of a generator, for titles and the JSON."""
    return f'{generator.num_avatars} Avatar(s): {generator.perturbations}'


def summary(rows: List[Row]) -> List[Dict[str, Any]]:
    """The statistics of each row, as written to ``avatars.json``.

    ``spread`` is the RMS Avatar-teacher difference of the drawn Avatars
    (:func:`~mmakd.models.losses.uncertainty.spread`), as training logs it;
    ``mean_U`` is the mean of the ``U`` that ``sigma`` comes from
    (``sigma_mode``).
    """
    return [
        dict(record=row.record, data_idx=row.data_idx, loss=row.loss_name,
             uncertainty=row.uncertainty, shape=list(row.teacher.shape),
             num_avatars=int(row.avatars.shape[0]),
             avatars=_generator_text(row.generator),
             sigma_mode=row.sigma_mode,
             mean_sigma=float(row.sigma.mean()),
             spread=float(row.spread),
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
    records = args.records
    if args.teacher is not None:
        teacher_of(model, args.teacher)
        records = records or [
            name for name in model.distiller.teacher_recorders.recorders
            if name.startswith(f'{args.teacher}.')
        ]
    if args.checkpoint:
        kind = load_weights(model, args.checkpoint, args.teacher)
        weights = f'{kind} checkpoint {osp.basename(args.checkpoint)}' + (
            ', student random' if kind == 'teacher' else '')
    data = [load_image(img, cfg, scope) for img in args.img]
    rows = draw_rows(model, data, records, args.num_avatars, args.seed)
    if not rows:
        raise VisError(f'{args.config}: no distill loss compares a student '
                       'and a teacher record; nothing to draw')
    for row in rows:  # check the channels before writing anything
        _reduce(row.teacher, args.channels)
    generators = list(dict.fromkeys(
        _generator_text(row.generator) for row in rows))
    if len(generators) > 1:  # losses with generators of their own
        generators = list(dict.fromkeys(
            f'{row.name}: {_generator_text(row.generator)}' for row in rows))
    title = (f'{osp.basename(args.config)} ({weights})\n'
             f'{osp.basename(args.img[0])} (batch of {len(data)}); '
             f'{"; ".join(generators)}; channels: '
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
