"""Writes a distillation config from paired outputs."""
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..utils import load_config
from .methods import METHODS, Method
from .pairing import RESIZE_MODE, Pair
from .probe import ConfigError, Output


def _tag(out: Output, where: str) -> str:
    """The part of recorder, connector and loss names for ``out``."""
    if out.kind == 'neck level' and where == 'neck':
        return 'fpn'
    if out.kind == 'logits' and where == 'logits':
        return 'logits'
    return re.sub(r'\W', '_', out.source)


def _record(out: Output, recorder: str, from_student: bool,
            connector: Optional[str] = None) -> Dict[str, Any]:
    record = dict(from_student=from_student, recorder=recorder)
    if out.record_idx:
        record['record_idx'] = out.record_idx
    if out.data_idx is not None:
        record['data_idx'] = out.data_idx
    if connector:
        record['connector'] = connector
    return record


def _connector(method: Method, pair: Pair, where: str,
               two_stage: bool) -> Optional[Dict[str, Any]]:
    s, t = pair.student.channels, pair.teacher.channels
    if method.connector:
        published = method.published(where, two_stage).connector_cfg()
        return dict(published, student_channels=s, teacher_channels=t)
    if s == t or method.aligns_itself:
        return None
    return dict(type='ConvModuleConnector', in_channel=s, out_channel=t,
                kernel_size=1, act_cfg=None)


def fitted(pair: Pair, side: str,
           connector: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The connector of one side of ``pair``, made to fit the loss.

    Where the pair has that side resized (outputs of different strides) or
    its output is not contiguous (SegFormer's logits), ``connector`` (if
    any) and the resize run inside a ``ContiguousConnector``, so the loss
    gets a contiguous tensor of the other side's size; otherwise
    ``connector`` as it is.
    """
    steps = [connector] if connector is not None else []
    if pair.resize is not None and pair.resize[0] == side:
        steps.append(
            dict(type='TorchFunctionalConnector', function_name='interpolate',
                 func_args=dict(scale_factor=pair.resize[1],
                                mode=RESIZE_MODE, align_corners=False)))
    elif getattr(pair, side).contiguous:
        return connector
    return dict(type='ContiguousConnector', connectors=steps)


def distiller_cfg(pairs: Sequence[Pair], method_name: str, where: str,
                  two_stage: bool,
                  loss_weight: Optional[float] = None) -> Dict[str, Any]:
    """The ``ConfigurableDistiller`` of ``pairs`` with ``method_name``.

    Args:
        pairs (Sequence[Pair]): From :func:`~.pairing.pair_outputs`.
        method_name (str): A key of :data:`~.methods.METHODS`.
        where (str): The ``--where`` value the pairs come from.
        two_stage (bool): Whether the student has an RoI head (FGD's
            two-stage setting).
        loss_weight (float, optional): Overrides the method's weight.

    Returns:
        dict: The distiller config.
    """
    method = METHODS[method_name]
    student_recorders: Dict[str, Dict] = {}
    teacher_recorders: Dict[str, Dict] = {}
    connectors: Dict[str, Dict] = {}
    losses: Dict[str, Dict] = {}
    mappings: Dict[str, Dict] = {}
    tags = [_tag(p.teacher, where) for p in pairs]
    s_names = _recorder_names([p.student for p in pairs], tags,
                              student_recorders)
    t_names = _recorder_names([p.teacher for p in pairs], tags,
                              teacher_recorders)
    for position, (pair, tag, s_name, t_name) in enumerate(
            zip(pairs, tags, s_names, t_names)):
        index = _index(position, pair, tags)
        suffix = f'_{tag}{index}' if (index != '' or tag != 'logits' or
                                      tags.count(tag) > 1) else ''
        name = f'loss_{method_name}{suffix}'
        names = {}
        for side, first in (('student', _connector(method, pair, where,
                                                   two_stage)),
                            ('teacher', None)):
            connector = fitted(pair, side, first)
            if connector is not None:
                names[side] = f'{side[0]}_{tag}{index}'
                connectors[names[side]] = connector
        loss = method.loss(where, two_stage)
        if loss_weight is not None:
            loss[method.weight_key] = loss_weight
        if method.aligns_itself and \
                pair.student.channels != pair.teacher.channels:
            loss.update(student_channels=pair.student.channels,
                        teacher_channels=pair.teacher.channels)
        elif method.aligns_itself:
            loss['in_channels'] = pair.teacher.channels
        losses[name] = loss
        mappings[name] = {
            method.student_key:
            _record(pair.student, s_name, True, names.get('student')),
            method.teacher_key:
            _record(pair.teacher, t_name, False, names.get('teacher')),
        }
        if method.needs_boxes:
            # The student's ground truth, as the published distiller
            # records it (FGD's `gt`).
            recorders, inputs = method.published(
                where, two_stage).extra_inputs(method.student_key,
                                               method.teacher_key)
            student_recorders.update(recorders)
            mappings[name].update(inputs)
    cfg = dict(
        type='ConfigurableDistiller',
        student_recorders=student_recorders,
        teacher_recorders=teacher_recorders)
    if connectors:
        cfg['connectors'] = connectors
    cfg.update(distill_losses=losses, loss_forward_mappings=mappings)
    return cfg


def teachers_distiller_cfg(
        distillers: Dict[str, Dict[str, Any]], method_name: str
) -> Tuple[Dict[str, Any], Optional[Dict[str, Dict]]]:
    """One distiller from the ``distiller_cfg`` of each named teacher.

    Each teacher's losses and connectors get its name as a suffix and a
    ``1/T`` share of the method's weight (the losses of the ``T`` teachers
    sum to the one-teacher scale); each teacher record names its teacher.
    Teacher recorders shared by all teachers stay in the distiller;
    otherwise the recorders of each teacher are returned for its
    ``teachers`` entry.

    Args:
        distillers (dict[str, dict]): :func:`distiller_cfg` of each
            teacher, by teacher name.
        method_name (str): A key of :data:`~.methods.METHODS`.

    Returns:
        tuple: The distiller, and the recorders of each teacher when they
        differ (else None).

    Raises:
        ConfigError: The teachers pair different student outputs under one
            recorder name.
    """
    weight_key = METHODS[method_name].weight_key
    share = len(distillers)
    student_recorders: Dict[str, Dict] = {}
    connectors: Dict[str, Dict] = {}
    losses: Dict[str, Dict] = {}
    mappings: Dict[str, Dict] = {}
    for name, cfg in distillers.items():
        for recorder, recorder_cfg in cfg['student_recorders'].items():
            if student_recorders.setdefault(recorder,
                                            recorder_cfg) != recorder_cfg:
                raise ConfigError(
                    f'--teacher: the teachers pair different student '
                    f'outputs as {recorder!r} ({student_recorders[recorder]}'
                    f' and, for teacher {name}, {recorder_cfg}); give '
                    '--where modules that every teacher has')
        renamed = {c: f'{c}_{name}' for c in cfg.get('connectors', {})}
        connectors.update(
            {renamed[c]: v
             for c, v in cfg.get('connectors', {}).items()})
        for loss_name, loss in cfg['distill_losses'].items():
            losses[f'{loss_name}_{name}'] = dict(
                loss, **{weight_key: loss[weight_key] / share})
            mapping = {}
            for arg, record in cfg['loss_forward_mappings'][loss_name].items(
            ):
                record = dict(record)
                if record.get('connector'):
                    record['connector'] = renamed[record['connector']]
                if record.get('from_student') is False:
                    record['teacher'] = name
                mapping[arg] = record
            mappings[f'{loss_name}_{name}'] = mapping
    per_teacher = {n: c['teacher_recorders'] for n, c in distillers.items()}
    shared = len({repr(r) for r in per_teacher.values()}) == 1
    merged = dict(
        type='ConfigurableDistiller',
        student_recorders=student_recorders,
        teacher_recorders=next(iter(per_teacher.values())) if shared else {})
    if connectors:
        merged['connectors'] = connectors
    merged.update(distill_losses=losses, loss_forward_mappings=mappings)
    return merged, None if shared else per_teacher


def _recorder_names(outputs: Sequence[Output], tags: Sequence[str],
                    recorders: Dict[str, Dict]) -> List[str]:
    """One ``ModuleOutputs`` recorder per source, named by its tag (and a
    number where one tag covers several sources, e.g. RTMDet's per-level
    ``rtm_cls.<i>``); fills ``recorders``; returns each output's."""
    sources: Dict[str, List[str]] = {}
    for out, tag in zip(outputs, tags):
        sources.setdefault(tag, [])
        if out.source not in sources[tag]:
            sources[tag].append(out.source)
    names = []
    for out, tag in zip(outputs, tags):
        known = sources[tag]
        name = tag if len(known) == 1 else f'{tag}{known.index(out.source)}'
        recorders[name] = dict(type='ModuleOutputs', source=out.source)
        names.append(name)
    return names


def _index(position: int, pair: Pair, tags: List[str]) -> str:
    """The index in names where one tag has several pairs: the level of a
    neck output, else the pair's place among its tag's."""
    tag = tags[position]
    if tags.count(tag) == 1 and tag != 'fpn':
        return ''
    if tag == 'fpn' and pair.teacher.data_idx is not None:
        return str(pair.teacher.data_idx)
    return str(tags[:position].count(tag))


def py(value: Any, indent: int = 0) -> str:
    """``value`` as Python source in mmengine's config style: ``dict(k=v)``
    for identifier keys, one item a line when it does not fit."""
    pad = ' ' * (indent + 4)
    if isinstance(value, dict):
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            items = [f'{k}={py(v, indent + 4)}' for k, v in value.items()]
            flat = f'dict({", ".join(items)})'
            if len(flat) + indent <= 72 and '\n' not in flat:
                return flat
            return 'dict(\n' + ',\n'.join(pad + i for i in items) + ')'
        items = [f'{k!r}: {py(v, indent + 4)}' for k, v in value.items()]
        return '{\n' + ',\n'.join(pad + i for i in items) + '}'
    if isinstance(value, list):
        items = [py(v, indent + 4) for v in value]
        flat = f'[{", ".join(items)}]'
        if len(flat) + indent <= 72 and '\n' not in flat:
            return flat
        return '[\n' + ',\n'.join(pad + i for i in items) + ']'
    return repr(value)


def relative_base(config: str, out: str) -> str:
    """``config`` as ``out``'s ``_base_`` sees it: a ``pkg::path`` as it is,
    a file relative to ``out``'s folder (mmengine resolves ``_base_``
    there)."""
    if '::' in config:
        return config
    return osp.relpath(osp.abspath(config), osp.dirname(osp.abspath(out)))


#: Where AKD's hooks (``akd_hooks``) of a generated AKD recipe come from.
AKD_HOOKS_CONFIG = 'mmakd::_base_/akd.py'


def render(command: str, teacher: str, student: str, out: str, scope: str,
           algorithm: str, distiller: Dict[str, Any], source: str,
           notes: Sequence[str], teacher_ckpt: Optional[str],
           akd: bool, student_hooks: bool = False,
           resized: Sequence[str] = (),
           teachers: Optional[Dict[str, Dict[str, Any]]] = None) -> str:
    """The text of the generated config.

    Args:
        command (str): The command that made it (for the header comment).
        teacher (str): The teacher config (``cfg_path``: as given).
        student (str): The student config (the ``_base_``).
        out (str): Where the config is written.
        scope (str): The student's default scope.
        algorithm (str): ``'MMAKDFpnTeacherDistill'`` or
            ``'MMAKDSingleTeacherDistill'``.
        distiller (dict): From :func:`distiller_cfg`.
        source (str): Where the loss values come from.
        notes (Sequence[str]): Levels dropped while pairing.
        teacher_ckpt (str, optional): The teacher's checkpoint.
        akd (bool): Whether to add the ``AvatarDistiller`` line and AKD's
            hooks (those of :data:`AKD_HOOKS_CONFIG`).
        student_hooks (bool): Whether the student config has
            ``custom_hooks``, which AKD's hooks then follow.
        resized (Sequence[str]): Outputs resized to pair across strides.
        teachers (dict, optional): Several teachers: each one's ``teachers``
            entry (``cfg_path``, ``ckpt``, maybe ``recorders``), by name;
            ``teacher`` and ``teacher_ckpt`` are then unused.

    Returns:
        str: Python source for mmengine's ``Config.fromfile``.
    """
    header = [
        '# Made by mmakd\'s distiller generator:',
        f'#   {command}',
        f'# Loss values: {source}.',
        '# Data, schedule and hooks: the student config (`_base_`).',
    ]
    header += [f'# Not distilled: {note}.' for note in notes]
    header += [f'# Resized: {note}.' for note in resized]
    if teachers:
        header.append(f'# {len(teachers)} teachers: each loss is one '
                      f"teacher's, at 1/{len(teachers)} of the method's "
                      'weight.')
        header += [
            f'# teachers.{name}.ckpt is None: set it to the trained '
            "teacher's checkpoint before training." for name, entry in
            teachers.items() if entry.get('ckpt') is None
        ]
        teacher_lines = [f'    teachers={py(teachers, 4)},']
    else:
        if teacher_ckpt is None:
            header.append('# teacher_ckpt is None: set it to the trained '
                          "teacher's checkpoint before training.")
        teacher_lines = [
            f'    teacher=dict(cfg_path={teacher!r}, pretrained=False),',
            '    teacher_ckpt=teacher_ckpt,'
        ]
    lines = header + [
        f'_base_ = {relative_base(student, out)!r}',
        "custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)",
        '',
    ] + ([] if teachers else [f'teacher_ckpt = {teacher_ckpt!r}']) + [
        'model = dict(',
        '    _delete_=True,',
        "    _scope_='mmrazor',",
        f'    type={algorithm!r},',
        f'    architecture=dict(_base_.model, _scope_={scope!r}),',
    ] + teacher_lines + [
        f'    distiller={py(distiller, 4)})',
        '# The teacher gets no gradient.',
        'find_unused_parameters = True',
    ]
    if akd:
        # Written out, not as an `mmakd::` base: any train.py reads them.
        hooks = py([h.to_dict()
                    for h in load_config(AKD_HOOKS_CONFIG).akd_hooks])
        lines += [
            "model['distiller']['type'] = 'AvatarDistiller'  # Avatars (AKD)",
            f"# AKD's checks and statistics, as in {AKD_HOOKS_CONFIG}.",
            'custom_hooks = ' +
            ('_base_.custom_hooks + ' if student_hooks else '') + hooks,
        ]
    return '\n'.join(lines) + '\n'


def algorithm_of(where: str, task: str, several: bool = False) -> str:
    """``MMAKDFpnTeacherDistill`` (the teacher runs backbone and neck only)
    where a detector distils its neck alone; else
    ``MMAKDSingleTeacherDistill``; with ``several`` teachers
    ``MultiFpnTeacherDistill`` / ``MultiTeacherDistill``."""
    fpn = task == 'det' and where == 'neck'
    if several:
        return 'MultiFpnTeacherDistill' if fpn else 'MultiTeacherDistill'
    return 'MMAKDFpnTeacherDistill' if fpn else 'MMAKDSingleTeacherDistill'
