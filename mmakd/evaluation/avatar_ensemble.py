"""Avatars as an inference ensemble of the teacher.

AKD calls its Avatars "inference ensemble models derived from the teacher":
``A_i = P(T)`` is the teacher with its feature ``T`` at a distilled point
perturbed. This module makes that model runnable, so that its predictions
can be evaluated (``tools/analysis_tools/eval_avatars.py``):

- a :class:`Member` is one forward of a model; an Avatar member replaces the
  output of each distilled point (the module that a teacher recorder
  records) with one Avatar, drawn by mmakd's own
  :class:`~mmakd.models.avatars.AvatarGenerator` in a forward hook, and runs
  the rest of the forward unchanged;
- :func:`ensemble_predict` averages the members' head outputs before
  decoding, then decodes once with the first member's own code:

  * single-stage detectors (RetinaNet, FCOS, GFL, ATSS, RTMDet, YOLOX heads):
    the tuple the head's ``forward`` returns (classification scores, box
    regressions, centerness / objectness, per level), then the head's
    ``predict_by_feat``;
  * mmseg ``EncoderDecoder`` (any decode head): the segmentation logits of
    each forward (``encode_decode``: the decode head's logits at the input
    size; whole or sliding-window inference), then the segmentor's own
    ``postprocess_result``.

With one member :func:`ensemble_predict` is the model's own ``predict``,
bit for bit. Members are averaged by a running mean
``m_k = m_{k-1} + (x_k - m_{k-1}) / k`` (:class:`RunningMean`), which gives
back exactly the member for N copies of one model.
"""
import contextlib
import copy
import inspect
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..models.algorithms.strict_teacher import (TeacherCheckpointMismatch,
                                                TeacherCheckpointUnreadable,
                                                load_teacher_checkpoint,
                                                problem_list,
                                                state_dict_mismatches,
                                                unwrapped_keys)
from ..models.avatars import PERTURBATIONS, AvatarGenerator
from ..models.avatars.avatar_generator import generator_cfg
from ..utils.checkpoint_guard import is_distillation_state
from ..utils.checkpoints import read_checkpoint
from ..utils.recorders import recorder_class

#: The dense heads whose outputs :func:`ensemble_predict` averages (and their
#: subclasses that keep ``BaseDenseHead.predict``).
SUPPORTED_DET_HEADS = ('RetinaHead', 'FCOSHead', 'GFLHead', 'ATSSHead',
                       'RTMDetHead', 'YOLOXHead')
#: What is supported, for the refusals.
SUPPORTED = ('mmdet single-stage detectors with a ' +
             ', '.join(SUPPORTED_DET_HEADS) + ' (or a subclass of one), '
             'and mmseg EncoderDecoder segmentors with any decode head')
#: The perturbation argument that ``--strength`` sets, by argument name.
STRENGTH_KEYS = ('p', 'std')
#: Where an Avatar member's streams are named (``<prefix>/<point>/<i>``).
STREAM_PREFIX = 'eval_avatars'

Structure = Union[torch.Tensor, Sequence[Any]]


class EvalAvatarsError(ValueError):
    """Bad input to the Avatar evaluation; the message names the argument,
    what is expected and what was received."""


class UnsupportedModel(EvalAvatarsError):
    """The teacher is of a kind whose head outputs cannot be averaged here
    (the message names its head and lists :data:`SUPPORTED`)."""


# --------------------------------------------------------------- the models


def _head_name(model: nn.Module) -> str:
    """The class of a model's head(s), for the refusals."""
    heads = [
        type(getattr(model, name)).__name__
        for name in ('bbox_head', 'rpn_head', 'roi_head', 'decode_head',
                     'mask_head', 'panoptic_head')
        if isinstance(getattr(model, name, None), nn.Module)
    ]
    return ' + '.join(heads) if heads else 'no head'


def task_of(model: nn.Module) -> str:
    """``'det'`` or ``'seg'``: how :func:`ensemble_predict` averages the
    model's members.

    Args:
        model (nn.Module): The teacher.

    Returns:
        str: ``'det'`` for a supported single-stage detector, ``'seg'`` for
        an mmseg ``EncoderDecoder``.

    Raises:
        UnsupportedModel: Any other model or head; the message names the
            head class and lists what is supported.
    """
    from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
    from mmdet.models.detectors import SingleStageDetector
    from mmseg.models.segmentors import EncoderDecoder
    if isinstance(model, EncoderDecoder):
        return 'seg'
    head = getattr(model, 'bbox_head', None)
    supported = [
        cls for cls in type(head).__mro__ if cls.__name__ in
        SUPPORTED_DET_HEADS and cls.__module__.startswith('mmdet.')
    ]
    if isinstance(model, SingleStageDetector) and supported and \
            type(model).predict is SingleStageDetector.predict and \
            type(head).predict is BaseDenseHead.predict:
        return 'det'
    if not supported:
        why = 'its outputs are not averaged here'
    elif not isinstance(model, SingleStageDetector):
        why = f'{type(model).__name__} is no mmdet SingleStageDetector'
    elif type(model).predict is not SingleStageDetector.predict:
        why = (f'{type(model).__name__} overrides '
               'SingleStageDetector.predict')
    else:
        why = f'{type(head).__name__} overrides BaseDenseHead.predict'
    raise UnsupportedModel(
        f'eval_avatars: the teacher {type(model).__name__} has the head '
        f'{_head_name(model)}, which is not supported ({why}); expected '
        f'{SUPPORTED}')


def candidate_points(teacher: nn.Module, limit: int = 30) -> List[str]:
    """Modules of the teacher that a teacher recorder could record.

    Its neck and decode head (each, and their convolutions) and its backbone
    stages, the points distillation recipes record.

    Args:
        teacher (nn.Module): The teacher.
        limit (int): The most names returned. Defaults to 30.

    Returns:
        list[str]: Module names, e.g. ``['neck', 'neck.fpn_convs.0.conv']``.
    """
    names = []
    for name, module in teacher.named_modules():
        top, _, rest = name.partition('.')
        if top in ('neck', 'decode_head') and (
                not rest or isinstance(module, nn.modules.conv._ConvNd)):
            names.append(name)
        elif top == 'backbone' and '.' not in rest and rest.startswith(
                ('layer', 'stage')):
            names.append(name)
    return names[:limit]


def distilled_points(teacher: nn.Module,
                     recorders: Optional[Dict[str, Dict]],
                     names: Optional[Sequence[str]] = None,
                     owner: str = 'eval_avatars') -> Dict[str, str]:
    """The distilled points: teacher recorder name -> recorded module.

    Args:
        teacher (nn.Module): The teacher.
        recorders (dict, optional): ``model.distiller.teacher_recorders``.
        names (Sequence[str], optional): The recorders to perturb
            (``--points``). Defaults to every module-output recorder.
        owner (str): Named in the errors. Defaults to ``'eval_avatars'``.

    Returns:
        dict[str, str]: Recorder name -> module name in the teacher, in the
        recorders' order; of several recorders of one module, the first
        (its output is perturbed once).

    Raises:
        EvalAvatarsError: There is no teacher recorder (the message lists
            :func:`candidate_points`); a name is not a teacher recorder (the
            message lists them); a named recorder does not record a module's
            outputs; a recorded module is not in the teacher.
    """
    from mmrazor.models.task_modules.recorder import ModuleOutputsRecorder
    recorders = dict(recorders or {})
    if not recorders:
        candidates = candidate_points(teacher)
        example = candidates[0] if candidates else 'neck'
        raise EvalAvatarsError(
            f'{owner}: `model.distiller.teacher_recorders` must name the '
            'distilled points (the teacher modules whose outputs are '
            f'distilled), but got {recorders}; modules of the teacher '
            f'{type(teacher).__name__} that could be recorded: '
            f'{candidates}. Add one, e.g. --cfg-options '
            'model.distiller.teacher_recorders.point.type=ModuleOutputs '
            f'model.distiller.teacher_recorders.point.source={example}')
    usable = {
        name: cfg for name, cfg in recorders.items()
        if isinstance(recorder_class(cfg), type)
        and issubclass(recorder_class(cfg), ModuleOutputsRecorder)
    }
    if names:
        unknown = [name for name in names if name not in recorders]
        if unknown:
            raise EvalAvatarsError(
                f'{owner}: `--points` must be teacher recorders of the '
                f"config's distiller {list(recorders)}, but got "
                f'{unknown}')
        other = [name for name in names if name not in usable]
        if other:
            raise EvalAvatarsError(
                f'{owner}: `--points` must be recorders of module outputs '
                f'(type ModuleOutputs: {list(usable)}), but got {other} '
                f'(types {[recorders[n].get("type") for n in other]})')
        selected = list(dict.fromkeys(names))
    else:
        selected = list(usable)
        if not selected:
            raise EvalAvatarsError(
                f'{owner}: `model.distiller.teacher_recorders` must have a '
                'recorder of module outputs (type ModuleOutputs) to perturb, '
                'but got types '
                f'{ {n: c.get("type") for n, c in recorders.items()} }; '
                'modules that could be recorded: '
                f'{candidate_points(teacher)}')
    modules = dict(teacher.named_modules())
    points = {}
    for name in selected:
        source = recorders[name].get('source')
        if source not in modules:
            raise EvalAvatarsError(
                f'{owner}: teacher recorder {name!r} must record a module '
                f'of the teacher {type(teacher).__name__}, but its source '
                f'is {source!r}; modules that could be recorded: '
                f'{candidate_points(teacher)}')
        if source not in points.values():  # one Avatar per module
            points[name] = source
    return points


# ------------------------------------------------------------ the Avatars


def _strength_key(perturbation: Dict) -> str:
    """``p`` or ``std``: the argument of a perturbation that ``--strength``
    sets."""
    cls = PERTURBATIONS.get(perturbation['type'])
    params = inspect.signature(cls).parameters
    for key in STRENGTH_KEYS:
        if key in params:
            return key
    raise EvalAvatarsError(
        f'eval_avatars: `--strength` sets the p or std of the perturbation, '
        f'but {perturbation["type"]} takes {inspect.signature(cls)}')


def build_generator(config_generator: Optional[Dict] = None,
                    perturbation: Optional[str] = None,
                    strength: Optional[float] = None) -> AvatarGenerator:
    """The generator that draws one Avatar per member and point.

    Args:
        config_generator (dict, optional): The config's
            ``model.distiller.avatar_generator`` (None: AKD's default,
            element dropout with p = 0.1).
        perturbation (str, optional): A registered perturbation type
            (``--perturbation``) replacing the config's, with its default
            arguments. Defaults to the config's.
        strength (float, optional): Its ``p`` or ``std`` (``--strength``).
            Defaults to the configured (or the type's default) value.

    Returns:
        AvatarGenerator: With ``num_avatars=1``.

    Raises:
        EvalAvatarsError: An unknown type, a strength out of range, or a
            strength for a config whose generator has several perturbations.
    """
    from mmengine.registry import DefaultScope
    from mmrazor.registry import MODELS
    cfg = copy.deepcopy(generator_cfg('eval_avatars', config_generator))
    if perturbation is not None:
        if perturbation not in PERTURBATIONS.module_dict:
            raise EvalAvatarsError(
                'eval_avatars: `--perturbation` must be one of '
                f'{sorted(PERTURBATIONS.module_dict)}, but got '
                f'{perturbation!r}')
        cfg['perturbation'] = dict(type=perturbation)
    elif 'perturbation' not in cfg:
        default = inspect.signature(AvatarGenerator).parameters[
            'perturbation'].default
        cfg['perturbation'] = copy.deepcopy(default)
    if strength is not None:
        chosen = cfg['perturbation']
        if not isinstance(chosen, dict):
            raise EvalAvatarsError(
                'eval_avatars: `--strength` sets the p or std of one '
                'perturbation, but the config\'s generator has '
                f'{len(chosen)} ({chosen}); give --perturbation too')
        chosen = dict(chosen)
        chosen[_strength_key(chosen)] = strength
        cfg['perturbation'] = chosen
    cfg['num_avatars'] = 1
    try:
        with DefaultScope.overwrite_default_scope('mmrazor'):
            return MODELS.build(cfg)
    except (TypeError, ValueError, KeyError) as err:
        arg = '--strength' if strength is not None else '--perturbation'
        raise EvalAvatarsError(f'eval_avatars: `{arg}`: {err}') from None


def perturbation_cfg(generator: AvatarGenerator) -> List[Dict[str, Any]]:
    """The perturbations of a generator as dicts (for reports)."""
    return [
        dict(type=type(p).__name__, **{
            key: getattr(p, key)
            for key in inspect.signature(type(p)).parameters
            if hasattr(p, key)
        }) for p in generator.perturbations
    ]


class Member:
    """One forward of an ensemble: a model, or one Avatar of it.

    An Avatar member replaces the output of each point with one Avatar in a
    forward hook: ``A = P(T)``, drawn by a copy of ``generator`` of its own
    per point, whose stream is ``eval_avatars/<point>/<index>`` seeded with
    ``seed`` (:meth:`AvatarGenerator.manual_seed`). The draw at step ``k``
    (the batch) depends only on ``seed``, the point, ``index`` and ``k``:
    not on torch's global stream, on the ensemble's size or on the other
    members. Calls in one step continue its stream (a module run several
    times in one forward, the windows of sliding-window inference), so a
    member used twice in one step draws anew, while fresh members of the
    same ``seed`` and ``index`` draw the same.

    Args:
        model (nn.Module): The model.
        points (dict[str, str], optional): Point (recorder) name -> module
            name. None or empty: the model as it is.
        generator (AvatarGenerator, optional): Draws the Avatars; copied.
            Required with ``points``.
        index (int): The member's index, which names its streams.
            Defaults to 0.
        seed (int): The seed of its streams. Defaults to 0.
    """

    def __init__(self,
                 model: nn.Module,
                 points: Optional[Dict[str, str]] = None,
                 generator: Optional[AvatarGenerator] = None,
                 index: int = 0,
                 seed: int = 0) -> None:
        self.model = model
        self.points = dict(points or {})
        self.index = index
        if self.points and generator is None:
            raise ValueError('Member: `generator` must be an '
                             'AvatarGenerator with `points`, but got None')
        self.generators: Dict[str, AvatarGenerator] = {}
        for name in self.points:
            copy_ = copy.deepcopy(generator)
            copy_.num_avatars = 1
            copy_.random.stream = f'{STREAM_PREFIX}/{name}/{index}'
            self.generators[name] = copy_.manual_seed(seed)

    @property
    def is_avatar(self) -> bool:
        """Whether the member perturbs any point."""
        return bool(self.points)

    def _hook(self, name: str, step: int, calls: Dict[str, int]):

        def replace(module: nn.Module, args: Any, output: Any) -> Any:
            calls[name] += 1
            try:
                avatars = self.generators[name](output, step=step)
            except (TypeError, ValueError) as err:
                raise EvalAvatarsError(
                    f'eval_avatars: point {name!r} (module '
                    f'{self.points[name]!r}) must output a tensor or a '
                    f'tuple/list of tensors to perturb, but: {err}') from None
            if isinstance(avatars, torch.Tensor):
                return avatars[0]
            return type(avatars)(level[0] for level in avatars)

        return replace

    @contextlib.contextmanager
    def drawn(self, step: int) -> Iterator[None]:
        """Within: the model's forward has one Avatar at each point, drawn
        for ``step``.

        Args:
            step (int): The step of the draws (the batch index).

        Raises:
            EvalAvatarsError: A point's module did not run (it is not part
                of inference, so its Avatars would change nothing).
        """
        if not self.points:
            yield
            return
        modules = dict(self.model.named_modules())
        calls = {name: 0 for name in self.points}
        handles = [
            modules[source].register_forward_hook(
                self._hook(name, step, calls))
            for name, source in self.points.items()
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
        silent = [name for name, count in calls.items() if count == 0]
        if silent:
            raise EvalAvatarsError(
                f'eval_avatars: `--points` must be run by the teacher\'s '
                f'inference, but {silent} (modules '
                f'{[self.points[n] for n in silent]}) were not called by '
                'its predict; their Avatars would change nothing')

    def __repr__(self) -> str:
        kind = f'Avatar {self.index}' if self.points else 'model'
        return f'Member({kind} of {type(self.model).__name__})'


def avatar_members(model: nn.Module, points: Dict[str, str],
                   generator: AvatarGenerator, num: int,
                   seed: int = 0) -> List[Member]:
    """``num`` Avatar members of ``model``, indices 0 to ``num - 1``: the
    first ``n`` members of any ``num`` are the same draws.

    Args:
        model (nn.Module): The teacher.
        points (dict[str, str]): Point name -> module name.
        generator (AvatarGenerator): Draws the Avatars.
        num (int): N, >= 1.
        seed (int): The seed of the draws. Defaults to 0.

    Returns:
        list[Member]: The members.
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise EvalAvatarsError(
            f'eval_avatars: `--num-avatars` must be ints >= 1, but got '
            f'{num!r}')
    return [Member(model, points, generator, i, seed) for i in range(num)]


# ------------------------------------------------------------ the averaging


class RunningMean:
    """The element-wise mean of nested tuples/lists of tensors, one at a
    time: ``m_k = m_{k-1} + (x_k - m_{k-1}) / k``.

    Unlike ``sum / k``, it gives back each tensor bit for bit when all are
    equal (``x_k - m_{k-1}`` is 0), so an ensemble of N copies of one model
    is that model exactly. Values that are not tensors (e.g. None) must be
    equal in every member and are kept.
    """

    def __init__(self) -> None:
        self.count = 0
        self.value: Any = None

    def add(self, value: Structure) -> 'RunningMean':
        """Adds one member's outputs (the structure of the first)."""
        self.count += 1
        if self.count == 1:
            self.value = value
        else:
            self.value = self._update(self.value, value, self.count)
        return self

    @classmethod
    def _update(cls, mean: Any, value: Any, count: int) -> Any:
        if isinstance(mean, torch.Tensor):
            if not isinstance(value, torch.Tensor) or \
                    value.shape != mean.shape:
                raise ValueError(
                    'RunningMean: members must give outputs of one shape, '
                    f'but got {tuple(mean.shape)} and '
                    f'{getattr(value, "shape", type(value).__name__)}')
            return mean + (value.to(mean.dtype) - mean) / count
        if isinstance(mean, (tuple, list)):
            if not isinstance(value, (tuple, list)) or len(value) != len(
                    mean):
                raise ValueError(
                    'RunningMean: members must give outputs of one '
                    f'structure, but got {type(mean).__name__} of '
                    f'{len(mean)} and {type(value).__name__}')
            return type(mean)(
                cls._update(m, v, count) for m, v in zip(mean, value))
        return mean


def _det_outputs(member: Member, inputs: torch.Tensor,
                 step: int) -> Tuple[Any, ...]:
    """The dense head's ``forward`` outputs of one member."""
    model = member.model
    with member.drawn(step):
        return model.bbox_head(model.extract_feat(inputs))


def _seg_logits(member: Member, inputs: torch.Tensor, metas: List[Dict],
                step: int) -> torch.Tensor:
    """The segmentation logits of one member (its own ``encode_decode``)."""
    model = member.model
    with member.drawn(step):
        return type(model).encode_decode(model, inputs, metas)


@contextlib.contextmanager
def _instance_attribute(obj: nn.Module, name: str,
                        value: Any) -> Iterator[None]:
    """Within: ``obj.<name>`` is ``value`` (an attribute of the instance)."""
    object.__setattr__(obj, name, value)
    try:
        yield
    finally:
        object.__delattr__(obj, name)


def ensemble_predict(members: Sequence[Member],
                     inputs: torch.Tensor,
                     data_samples: List[Any],
                     step: int = 0) -> List[Any]:
    """Predictions of the ensemble of ``members``: their head outputs
    averaged, decoded by the first member's model.

    - detection: the mean of ``bbox_head.forward`` outputs, then
      ``bbox_head.predict_by_feat(..., rescale=True)`` and
      ``add_pred_to_datasample``, as ``SingleStageDetector.predict``;
    - segmentation: the segmentor's own ``predict`` (whole or slide
      inference, ``postprocess_result``) with each ``encode_decode`` call
      returning the mean of the members' logits.

    Args:
        members (Sequence[Member]): The members, all of one task (their
            models built from one config).
        inputs (Tensor): The preprocessed batch.
        data_samples (list): Its data samples; their predictions are set.
        step (int): The step of the Avatars' draws (the batch index).
            Defaults to 0.

    Returns:
        list: ``data_samples`` with the predictions.
    """
    if not members:
        raise ValueError('ensemble_predict: `members` must not be empty')
    primary = members[0].model
    task = task_of(primary)
    metas = [sample.metainfo for sample in data_samples]
    if task == 'det':
        mean = RunningMean()
        for member in members:
            mean.add(_det_outputs(member, inputs, step))
        results = primary.bbox_head.predict_by_feat(
            *mean.value, batch_img_metas=metas, rescale=True)
        return primary.add_pred_to_datasample(data_samples, results)

    def encode_decode(crop: torch.Tensor, crop_metas: List[Dict]):
        mean = RunningMean()
        for member in members:
            mean.add(_seg_logits(member, crop, crop_metas, step))
        return mean.value

    with _instance_attribute(primary, 'encode_decode', encode_decode):
        return primary.predict(inputs, data_samples)


# -------------------------------------------------------------- the weights


def teacher_state(checkpoint: Dict[str, Any]) -> Tuple[Dict[str, Any], str]:
    """The teacher's weights in a checkpoint, and what it is.

    Args:
        checkpoint (dict): A checkpoint as read.

    Returns:
        tuple[dict, str]: The state dict and ``'teacher'``, or, for a
        distillation checkpoint (``architecture.``, ``teacher.`` keys), its
        ``teacher.`` part without the prefix and ``'distillation'``.
    """
    state = unwrapped_keys(checkpoint.get('state_dict', checkpoint))
    if not is_distillation_state(state):
        return state, 'teacher'
    prefix = 'teacher.'
    return {
        key[len(prefix):]: value
        for key, value in state.items() if key.startswith(prefix)
    }, 'distillation'


def load_teacher_weights(teacher: nn.Module, path: str,
                         arg: str = 'CKPT') -> str:
    """Loads a teacher or distillation checkpoint into ``teacher``, strictly.

    A teacher checkpoint goes through
    :func:`~mmakd.models.algorithms.strict_teacher.load_teacher_checkpoint`
    (the strict key and shape check of ``teacher_ckpt``); a distillation
    checkpoint gives its ``teacher.`` weights, checked the same way.

    Args:
        teacher (nn.Module): The teacher built from the config.
        path (str): The checkpoint.
        arg (str): The argument that names it, for the errors.

    Returns:
        str: ``'teacher'`` or ``'distillation'``.

    Raises:
        EvalAvatarsError: The file is missing, unreadable, or does not fit
            the teacher (the message lists the first problems).
    """
    if not osp.isfile(path):
        raise EvalAvatarsError(
            f'eval_avatars: `{arg}` must be a checkpoint of the config\'s '
            f'teacher, but {path!r} does not exist')
    try:
        load_teacher_checkpoint(teacher, path)
        return 'teacher'
    except TeacherCheckpointUnreadable as err:
        raise EvalAvatarsError(f'eval_avatars: `{arg}`: {err}') from None
    except TeacherCheckpointMismatch:
        pass  # a distillation checkpoint, or another architecture's
    state, kind = teacher_state(read_checkpoint(path, arg))
    problems = state_dict_mismatches(teacher, state)
    if problems:
        raise EvalAvatarsError(
            f'eval_avatars: `{arg}` must be a checkpoint of the config\'s '
            f'teacher ({type(teacher).__name__}), but {path!r} does not fit '
            f'it (read as a {kind} checkpoint; {len(problems)} problems):'
            f'{problem_list(problems, 12)}')
    teacher.load_state_dict(state, strict=False)
    return kind


def select_teacher(cfg: Any, name: Optional[str]) -> None:
    """Makes a multi-teacher config (``model.teachers``) the one-teacher
    config of teacher ``name``, in place: its model becomes
    ``model.teacher``, its recorders ``teacher_recorders``.

    Args:
        cfg (Config): The distillation config.
        name (str, optional): The teacher (``--teacher``); None for a
            one-teacher config.

    Raises:
        EvalAvatarsError: ``name`` with one teacher, or missing or unknown
            with several.
    """
    from ..models.algorithms.multi_teacher_distill import ENTRY_KEYS
    model = cfg.get('model') or {}
    teachers = model.get('teachers') if isinstance(model, dict) else None
    if teachers is None:
        if name is not None:
            raise EvalAvatarsError(
                f'eval_avatars: `--teacher {name}` is for a config with '
                '`model.teachers`, but CONFIG has one teacher; leave '
                '--teacher out')
        return
    if name not in teachers:
        raise EvalAvatarsError(
            'eval_avatars: `--teacher` must be one of the teachers '
            f'{list(teachers)} of CONFIG, but got {name!r}')
    entry = dict(teachers[name])
    recorders = entry.get('recorders')
    model.teacher = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
    if recorders is not None:
        model.distiller.teacher_recorders = recorders


def build_teacher(cfg: Any, device: Union[str, torch.device] = 'cpu'
                  ) -> Tuple[nn.Module, str]:
    """The teacher of a distillation config, with random weights, in eval
    mode.

    Args:
        cfg (Config): The distillation config (``model.teacher``; a
            ``cfg_path`` teacher is expanded, its checkpoint not loaded).
        device (str | torch.device): Where to put it. Defaults to ``'cpu'``.

    Returns:
        tuple[nn.Module, str]: The teacher and its scope (``'mmdet'``,
        ``'mmseg'``).

    Raises:
        EvalAvatarsError: The config has no ``model.teacher``.
    """
    from mmengine.registry import MODELS, DefaultScope

    from ..utils import disable_downloads, resolve_cfg_paths
    model = cfg.get('model') or {}
    teacher = model.get('teacher') if isinstance(model, dict) else None
    if not isinstance(teacher, dict):
        kind = model.get('type') if isinstance(model, dict) else model
        raise EvalAvatarsError(
            'eval_avatars: CONFIG must be a distillation config with '
            '`model.teacher` and `model.distiller.teacher_recorders`, but '
            f'its model ({kind!r}) has no `teacher`')
    teacher = disable_downloads(
        dict(model=resolve_cfg_paths(copy.deepcopy(teacher))))['model']
    scope = teacher.get('_scope_') or cfg.get('default_scope') or 'mmdet'
    if scope in ('mmdet', 'mmseg'):
        import importlib
        importlib.import_module(f'{scope}.utils').register_all_modules(
            init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        built = MODELS.build(teacher)
    # MMRazor's and mmengine's models return None from train(); eval()
    # sets the mode in place.
    built.eval()
    return built.to(device), scope
