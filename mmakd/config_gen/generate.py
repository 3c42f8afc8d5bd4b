"""Generate a distillation config: probe, pair, write, verify.

The steps of ``tools/misc/distill_config.py``, importable: both models are
probed at the student's input size, their outputs paired at ``where``, the
config rendered and, unless ``verify=False``, one training step run on it
before the file is written.
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.config import Config

from ..models.checks import check_range
from ..utils import load_config
from ..utils.config import check_one_input_size, input_size_of
from .methods import METHODS
from .pairing import RESIZE_MODE, Pair, default_where, modules_of, pair_outputs
from .probe import ConfigError, probe_model
from .verify import check_device, verify_config
from .writer import algorithm_of, distiller_cfg, render, teachers_distiller_cfg


@dataclass
class Generated:
    """What :func:`generate_config` wrote.

    Args:
        out (str): The written file.
        lines (list[str]): The pairs, one line each, for the console.
        notes (list[str]): Outputs left undistilled while pairing.
        input_size (tuple[int, int]): The (H, W) both models were probed
            and verified at.
        verify_seconds (float, optional): The verification's time; None
            without it.
    """
    out: str
    lines: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    input_size: Tuple[int, int] = (0, 0)
    verify_seconds: Optional[float] = None


def load(path: str, key: str) -> Config:
    """The config at ``path``; a named error where it cannot be read."""
    try:
        return load_config(path)
    except (FileNotFoundError, OSError) as err:
        raise ConfigError(f'{key}: cannot load {path!r}: {err}') from None


def list_outputs(path: str,
                 input_size: Optional[Tuple[int, int]] = None) -> str:
    """The ``--list`` table of the config at ``path``."""
    probe = probe_model(load(path, '--list'), input_size, key='--list')
    return (f'{path} ({probe.task}, input {tuple(probe.input_shape)}):'
            f'\n{probe.table()}')


def generate_config(teacher: Union[str, Sequence[str]],
                    student: str,
                    method: str,
                    out: str,
                    where: Optional[str] = None,
                    akd: bool = False,
                    teacher_ckpt: Union[None, str, Sequence[str]] = None,
                    loss_weight: Optional[float] = None,
                    input_size: Optional[Tuple[int, int]] = None,
                    verify: bool = True,
                    device: str = 'cpu',
                    force: bool = False,
                    command: str = '') -> Generated:
    """Writes the distillation config of ``teacher`` -> ``student``.

    Args:
        teacher (str | Sequence[str]): The teacher config (a file or
            ``pkg::path``), or several: a multi-teacher config (teachers
            ``t0``, ``t1``, ... in this order; each loss at ``1/T`` of the
            weight).
        student (str): The student config; the written config's ``_base_``.
        method (str): A key of :data:`~.methods.METHODS`.
        out (str): Where to write.
        where (str, optional): ``'neck'``, ``'logits'`` or module names;
            None: :func:`~.pairing.default_where` of the student.
        akd (bool): With Avatars (``AvatarDistiller`` and AKD's hooks).
        teacher_ckpt (str | Sequence[str], optional): The teacher's
            checkpoint; with several teachers one per teacher, in order.
        loss_weight (float, optional): Instead of the method's weight.
        input_size (tuple[int, int], optional): (H, W) of the probes and the
            verification; None: the student's
            (:func:`~mmakd.utils.config.input_size_of`).
        verify (bool): Run one training step before writing.
        device (str): Where the verification runs.
        force (bool): Overwrite ``out``.
        command (str): The command, for the written header.

    Returns:
        Generated: What was written.

    Raises:
        ConfigError: Bad input or a failed verification; nothing written.
    """
    teachers = [teacher] if isinstance(teacher, str) else list(teacher)
    ckpts = _teacher_ckpts(teachers, teacher_ckpt)
    if osp.exists(out) and not force:
        raise ConfigError(f'--out: {out} exists; pass --force to overwrite '
                          'it')
    if loss_weight is not None:
        try:
            check_range(
                'distill_config.py',
                '--loss-weight',
                loss_weight,
                0,
                low_open=True)
        except (TypeError, ValueError) as err:
            raise ConfigError(str(err)) from None
    if verify:
        check_device(device)
    # Names in messages; with several teachers, also the name in the
    # written `teachers` (t0, t1, ...).
    keys = ['--teacher'] if len(teachers) == 1 else [
        f'--teacher t{i}={path}' for i, path in enumerate(teachers)
    ]
    configs = {
        key: load(path, '--teacher')
        for key, path in zip(keys, teachers)
    }
    configs['--student'] = load(student, '--student')
    try:
        check_one_input_size('--teacher', {
            key: input_size_of(configs[key], default=None)
            for key in keys
        })
    except ValueError as err:
        raise ConfigError(str(err)) from None
    # All at the size the student trains at: the size all will see.
    size = tuple(input_size) if input_size else input_size_of(
        configs['--student'])
    probes = {
        key: probe_model(cfg, size, key=key)
        for key, cfg in configs.items()
    }
    s_probe = probes['--student']
    for key in keys:
        if probes[key].task != s_probe.task:
            raise ConfigError(f'{key} is a {probes[key].task} model and '
                              f'--student a {s_probe.task} model; both must '
                              'be one task')
    spec = METHODS[method]
    if spec.needs_boxes and s_probe.task != 'det':
        raise ConfigError(f'--method {method} reads the ground-truth boxes: '
                          'detectors only')
    where = where or default_where(s_probe)
    modules = modules_of(where)
    if modules:
        _check_modules(modules, probes)
        probes = {
            key: probe_model(cfg, size, modules, key=key)
            for key, cfg in configs.items()
        }
        s_probe = probes['--student']
    paired = {key: pair_outputs(probes[key], s_probe, where) for key in keys}
    pairs = [pair for key in keys for pair in paired[key][0]]
    notes = [note for key in keys for note in paired[key][1]]
    distillers = {
        key:
        distiller_cfg(paired[key][0], method, where, s_probe.two_stage,
                      loss_weight)
        for key in keys
    }
    names = {key: f't{i}' for i, key in enumerate(keys)}
    entries = None
    if len(keys) == 1:
        distiller = distillers['--teacher']
    else:
        distiller, own = teachers_distiller_cfg(
            {
                names[key]: cfg
                for key, cfg in distillers.items()
            }, method)
        entries = {
            names[key]:
            dict(
                cfg_path=path,
                pretrained=False,
                ckpt=ckpt,
                **({} if own is None else dict(recorders=own[names[key]])))
            for key, path, ckpt in zip(keys, teachers, ckpts)
        }
    resized = [_resized(pair) for pair in pairs if pair.resize]

    def text(path: str) -> str:
        return render(command, teachers[0], student, path, s_probe.scope,
                      algorithm_of(where, s_probe.task,
                                   len(keys) > 1), distiller,
                      spec.source(where,
                                  s_probe.two_stage), notes, ckpts[0], akd,
                      'custom_hooks' in configs['--student'], resized, entries)

    seconds = verify_config(text, s_probe.task, size, device) \
        if verify else None
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text(out))
    lines = []
    for key in keys:
        found = paired[key][0]
        who = '' if len(keys) == 1 else f' of teacher {names[key]}'
        lines += [f'{len(found)} pair(s){who} at {where}:'] + [
            f'  teacher {p.teacher.name} {p.teacher.shape} <- student '
            f'{p.student.name} {p.student.shape}{p.resize_note()}'
            for p in found
        ]
    return Generated(out, lines, notes, size, seconds)


def _teacher_ckpts(
        teachers: List[str],
        teacher_ckpt: Union[None, str, Sequence[str]]) -> List[Optional[str]]:
    """One checkpoint (or None) per teacher.

    Raises:
        ConfigError: No teacher, or checkpoints given but not one per
            teacher.
    """
    if not teachers:
        raise ConfigError('--teacher: expected at least one teacher config')
    if teacher_ckpt is None:
        return [None] * len(teachers)
    ckpts = [teacher_ckpt] if isinstance(teacher_ckpt,
                                         str) else list(teacher_ckpt)
    if len(ckpts) != len(teachers):
        raise ConfigError(
            f'--teacher-ckpt: expected one per --teacher ({len(teachers)}, '
            f'in the same order), but got {len(ckpts)}: {ckpts}')
    return ckpts


def _resized(pair: Pair) -> str:
    """The header line of a pair across strides."""
    side, factor = pair.resize
    out, other = (pair.teacher,
                  pair.student) if side == 'teacher' else (pair.student,
                                                           pair.teacher)
    return (f'the {side}\'s {out.name} (stride {out.stride}) is upsampled '
            f'x{factor} ({RESIZE_MODE}) to the size of the '
            f'{"student" if side == "teacher" else "teacher"}\'s '
            f'{other.name} (stride {other.stride})')


def _check_modules(modules: Sequence[str], probes) -> None:
    """A named error for a ``--where`` module missing on either side,
    listing both sides' recordable outputs."""
    missing = {
        key: [m for m in modules if m not in probe.modules]
        for key, probe in probes.items()
    }
    if any(missing.values()):
        where = '; '.join(f'the {key[2:]} has no module {names}'
                          for key, names in missing.items() if names)
        tables = '\n'.join(f'{key[2:]}:\n{probe.table()}'
                           for key, probe in probes.items())
        raise ConfigError(
            f'--where: {where}. The recordable outputs of both (every '
            f'module name is accepted; `--list` prints these):\n{tables}')
