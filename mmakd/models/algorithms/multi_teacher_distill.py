"""Distillation from several named teachers.

MMRazor's algorithms take one teacher. ``MultiTeacherDistill`` and
``MultiFpnTeacherDistill`` take ``teachers``, a dict of named teachers, and
run each (frozen) on the batch before the student, as
``SingleTeacherDistill`` / ``FpnTeacherDistill`` run their one:

.. code-block:: python

    model = dict(
        type='MultiTeacherDistill',
        architecture=student,
        teachers=dict(
            r101=dict(cfg_path='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
                      ckpt='r101.pth'),
            x101=dict(cfg_path='mmdet::retinanet/...x101...py',
                      ckpt='x101.pth')),
        distiller=dict(
            type='AvatarDistiller',
            student_recorders=dict(fpn=dict(type='ModuleOutputs',
                                            source='neck')),
            teacher_recorders=dict(fpn=dict(type='ModuleOutputs',
                                            source='neck')),
            distill_losses=dict(loss_r101=cwd, loss_x101=cwd),
            loss_forward_mappings=dict(
                loss_r101=dict(
                    preds_S=dict(from_student=True, recorder='fpn'),
                    preds_T=dict(from_student=False, recorder='fpn',
                                 teacher='r101')),
                loss_x101=...)))

The distiller is any ``ConfigurableDistiller``, unchanged: the teachers sit
in one module (:class:`TeacherGroup`, ``algorithm.teacher``), each teacher
recorder is made once per teacher as ``'<teacher>.<recorder>'`` with its
module path under that teacher, and each teacher record of
``loss_forward_mappings`` names its teacher. An ``AvatarDistiller`` so draws
Avatars per teacher record, hence per teacher. With one teacher, the losses
are those of ``SingleTeacherDistill``.
"""
import copy
from typing import Any, Dict, Iterator, List, Optional, Tuple

from mmengine.model import BaseModel
from mmrazor.models.algorithms import FpnTeacherDistill, SingleTeacherDistill
from mmrazor.models.task_modules.recorder import (ModuleOutputsRecorder,
                                                  ParameterRecorder)
from mmrazor.registry import MODELS
from torch import nn

from ...utils.config import check_one_input_size, input_size_of
from ...utils.recorders import recorder_class
from .inherit import InheritFromTeacherMixin
from .strict_teacher import load_teacher_checkpoint
from .sub_models import build_sub_model, load_sub_config

__all__ = [
    'MultiFpnTeacherDistill', 'MultiTeacherDistill', 'TeacherGroup',
    'teacher_record', 'distiller_for_teachers'
]

#: Keys of a ``teachers`` entry that are not the teacher's model config.
ENTRY_KEYS = ('ckpt', 'ckpt_strict', 'recorders')


class TeacherGroup(BaseModel):
    """Named teachers as one module: ``forward`` and ``extract_feat`` run
    each in turn (their results, by name).

    Args:
        teachers (dict[str, nn.Module]): The teachers, by name.
    """

    def __init__(self, teachers: Dict[str, nn.Module]) -> None:
        super().__init__()
        self.names = list(teachers)
        for name, teacher in teachers.items():
            self.add_module(name, teacher)

    def items(self) -> Iterator[Tuple[str, nn.Module]]:
        """(name, teacher) of each teacher, in the configured order."""
        return ((name, getattr(self, name)) for name in self.names)

    def __getitem__(self, name: str) -> nn.Module:
        """The teacher called ``name``."""
        return getattr(self, name)

    def forward(self,
                inputs: Any,
                data_samples: Any = None,
                mode: str = 'tensor') -> Dict[str, Any]:
        """Runs every teacher on the batch (``'loss'`` or ``'tensor'``).

        Args:
            inputs: The preprocessed batch.
            data_samples: Its data samples.
            mode (str): ``'loss'`` or ``'tensor'``; ``'predict'`` is
                refused (the teachers make no one prediction).

        Returns:
            dict: Each teacher's result, by name.
        """
        if mode == 'predict':
            # MMRazor's SingleTeacherDistillValLoop evaluates `teacher`.
            raise RuntimeError(
                f'The teachers {self.names} of a multi-teacher algorithm '
                'make no one prediction; validate the student with '
                "val_cfg=dict(type='ValLoop') (not "
                'SingleTeacherDistillValLoop), and each teacher with its '
                'own config')
        return {
            name: teacher(inputs, data_samples, mode)
            for name, teacher in self.items()
        }

    def extract_feat(self, inputs: Any) -> Dict[str, Any]:
        """Each teacher's backbone and neck features, by name."""
        return {
            name: teacher.extract_feat(inputs)
            for name, teacher in self.items()
        }


def teacher_record(teacher: str, recorder: str) -> str:
    """The distiller's name of ``teacher``'s recorder ``recorder``."""
    return f'{teacher}.{recorder}'


def _teacher_recorders(teacher: str, recorders: Dict[str, Dict],
                       where: str) -> Dict[str, Dict]:
    """``recorders`` made for ``teacher``: names and module paths under it.

    Raises:
        ValueError: a recorder that records calls, not a module of the
            teacher (it would record every teacher).
    """
    made = {}
    for name, cfg in recorders.items():
        kind = recorder_class(cfg)
        if kind is None or not issubclass(
                kind, (ModuleOutputsRecorder, ParameterRecorder)):
            raise ValueError(
                f'{where}[{name!r}]: with several teachers, a teacher '
                'recorder must record a module or parameter of the teacher '
                '(ModuleOutputs, ModuleInputs, Parameter), but got type '
                f'{cfg.get("type")!r}, which records calls of every teacher')
        made[teacher_record(teacher, name)] = dict(
            cfg, source=f'{teacher}.{cfg["source"]}')
    return made


def distiller_for_teachers(distiller: Dict, teachers: Dict[str, Dict],
                           owner: str) -> Dict:
    """``distiller`` with its teacher recorders and records per teacher.

    Args:
        distiller (dict): The distiller config: ``teacher_recorders`` are
            recorded on every teacher (a teacher's ``recorders`` replace
            them for it); each teacher record of ``loss_forward_mappings``
            names its ``teacher`` (optional with one teacher).
        teachers (dict): The ``teachers`` entries, by name.
        owner (str): The algorithm, for the messages.

    Returns:
        dict: A config any ``ConfigurableDistiller`` takes.

    Raises:
        ValueError: a record names no teacher, or one that does not exist,
            or a recorder the teacher lacks; deliveries with several
            teachers.
    """
    cfg = copy.deepcopy(dict(distiller))
    names = list(teachers)
    if cfg.get('distill_deliveries') and len(names) > 1:
        raise ValueError(
            f'{owner}: `distiller.distill_deliveries` replay one teacher\'s '
            f'calls in the student; with several teachers ({names}) which '
            'one is undefined. Use one teacher for deliveries.')
    shared = cfg.get('teacher_recorders') or {}
    recorders: Dict[str, Dict] = {}
    for name, entry in teachers.items():
        own = entry.get('recorders')
        where = f'teachers.{name}.recorders' if own is not None else \
            'distiller.teacher_recorders'
        recorders.update(_teacher_recorders(name, own or shared, where))
    cfg['teacher_recorders'] = recorders
    for loss, mapping in (cfg.get('loss_forward_mappings') or {}).items():
        for arg, record in mapping.items():
            where = f'distiller.loss_forward_mappings.{loss}.{arg}'
            if not isinstance(record, dict):
                continue
            teacher = record.pop('teacher', None)
            if record.get('from_student', True):
                if teacher is not None:
                    raise ValueError(
                        f'{owner}: {where} is a student record '
                        f'(from_student=True) but names teacher {teacher!r}')
                continue
            if teacher is None:
                if len(names) > 1:
                    raise ValueError(
                        f'{owner}: {where} reads a teacher record but names '
                        f'no `teacher`; expected one of {names}')
                teacher = names[0]
            if teacher not in teachers:
                raise ValueError(
                    f'{owner}: {where} names teacher {teacher!r}, which is '
                    f'not in `teachers`; expected one of {names}')
            name = teacher_record(teacher, record.get('recorder'))
            if name not in recorders:
                own = sorted(
                    r.split('.', 1)[1] for r in recorders
                    if r.startswith(teacher + '.'))
                raise ValueError(
                    f'{owner}: {where} reads recorder '
                    f'{record.get("recorder")!r} of teacher {teacher!r}, '
                    f'which has the recorders {own}')
            record['recorder'] = name
    return cfg


def _check_names(owner: str, teachers: Any) -> None:
    if not isinstance(teachers, dict) or not teachers:
        raise TypeError(
            f'{owner}: `teachers` must be a non-empty dict of named teacher '
            "configs, e.g. dict(r101=dict(cfg_path=..., ckpt=...)), but got "
            f'{teachers!r}')
    for name, entry in teachers.items():
        if not isinstance(name, str) or not name.isidentifier() or \
                name == 'data_preprocessor':
            raise ValueError(
                f'{owner}: teacher name {name!r} in `teachers`: expected a '
                "Python identifier other than 'data_preprocessor' (it "
                'becomes a module name)')
        if not isinstance(entry, (dict, nn.Module)):
            raise TypeError(
                f'{owner}: teachers.{name}: expected a model config (dict) '
                f'or a model, but got {type(entry).__name__}')


def _input_sizes(owner: str, teachers: Dict[str, Any]) -> None:
    """Refuses teachers whose configs are trained at different input
    sizes (those given by a ``cfg_path``)."""
    check_one_input_size(owner, {
        f'teachers.{name}': input_size_of(
            load_sub_config(entry['cfg_path'])[0], default=None)
        for name, entry in teachers.items()
        if isinstance(entry, dict) and isinstance(entry.get('cfg_path'), str)
    })


class MultiTeacherMixin:
    """Builds ``teachers`` into a :class:`TeacherGroup` as the algorithm's
    ``teacher``, and the distiller with per-teacher recorders.

    Args:
        teachers (dict[str, dict]): Named teachers. Each entry is the
            teacher's model config (``dict(cfg_path=...)``, a config with
            ``type``, or a built model) and may add ``ckpt`` (its
            checkpoint, loaded strictly), ``ckpt_strict`` (False allows a
            partial load) and ``recorders`` (its own teacher recorders,
            instead of ``distiller.teacher_recorders``).
        distiller (dict): The distiller (see :func:`distiller_for_teachers`).
        inherit_from (str, optional): The teacher ``inherit`` copies from.
            Required with ``inherit`` and several teachers.
    """

    def __init__(self,
                 *args,
                 teachers: Dict[str, Any],
                 distiller: Dict,
                 inherit_from: Optional[str] = None,
                 **kwargs) -> None:
        owner = type(self).__name__
        for key in ('teacher', 'teacher_ckpt', 'teacher_ckpt_strict'):
            if key in kwargs:
                raise TypeError(
                    f'{owner}: `{key}` is for one teacher; give each '
                    'teacher in `teachers`, e.g. teachers=dict(r101=dict('
                    'cfg_path=..., ckpt=..., ckpt_strict=True))')
        if kwargs.get('teacher_trainable'):
            raise ValueError(
                f'{owner}: `teacher_trainable=True` is not supported; the '
                'teachers are frozen')
        _check_names(owner, teachers)
        if inherit_from is not None and inherit_from not in teachers:
            raise ValueError(
                f'{owner}: `inherit_from`={inherit_from!r} is not in '
                f'`teachers`; expected one of {list(teachers)}')
        entries = {
            n: dict(e) if isinstance(e, dict) else {}
            for n, e in teachers.items()
        }
        _input_sizes(owner, teachers)
        distiller = distiller_for_teachers(distiller, entries, owner)
        if 'architecture' in kwargs:
            kwargs['architecture'] = build_sub_model(kwargs['architecture'])
        group = TeacherGroup({
            name: self._build_teacher(teacher, entries[name])
            for name, teacher in teachers.items()
        })
        super().__init__(*args, teacher=group, distiller=distiller, **kwargs)
        self.inherit_from = inherit_from
        for name, entry in entries.items():
            if entry.get('ckpt'):
                load_teacher_checkpoint(
                    group[name],
                    entry['ckpt'],
                    entry.get('ckpt_strict', True),
                    key=f'teachers.{name}.ckpt',
                    strict_key=f'teachers.{name}.ckpt_strict')
                group[name]._is_init = True

    @staticmethod
    def _build_teacher(teacher: Any, entry: Dict) -> nn.Module:
        if isinstance(teacher, nn.Module):
            return teacher
        model = build_sub_model({
            k: v
            for k, v in entry.items() if k not in ENTRY_KEYS
        })
        return model if isinstance(model, nn.Module) else MODELS.build(model)

    @property
    def teachers(self) -> TeacherGroup:
        """The teachers (``self.teacher``), by name."""
        return self.teacher

    def inherit_source(self) -> nn.Module:
        """The teacher ``inherit`` copies from: ``inherit_from``, or the
        only teacher."""
        names: List[str] = self.teacher.names
        if self.inherit_from is None and len(names) > 1:
            raise ValueError(
                f'{type(self).__name__}: `inherit` with several teachers '
                f'needs `inherit_from`, one of {names}')
        return self.teacher[self.inherit_from or names[0]]


@MODELS.register_module()
class MultiTeacherDistill(InheritFromTeacherMixin, MultiTeacherMixin,
                          SingleTeacherDistill):
    """``SingleTeacherDistill`` with several named teachers (each runs its
    whole forward; see :class:`MultiTeacherMixin`) and the ``inherit``
    option."""


@MODELS.register_module()
class MultiFpnTeacherDistill(InheritFromTeacherMixin, MultiTeacherMixin,
                             FpnTeacherDistill):
    """``FpnTeacherDistill`` with several named teachers (each runs its
    backbone and neck only; see :class:`MultiTeacherMixin`) and the
    ``inherit`` option."""
