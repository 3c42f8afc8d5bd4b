"""Generate a distillation config: probe, pair, write, verify.

The steps of ``tools/misc/distill_config.py``, importable: both models are
probed at the student's input size, their outputs paired at ``where``, the
config rendered and, unless ``verify=False``, one training step run on it
before the file is written.
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config

from ..models.checks import check_range
from ..utils import load_config
from .methods import METHODS
from .pairing import RESIZE_MODE, Pair, default_where, modules_of, pair_outputs
from ..utils.config import input_size_of
from .probe import ConfigError, probe_model
from .verify import check_device, verify_config
from .writer import algorithm_of, distiller_cfg, render


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


def generate_config(teacher: str,
                    student: str,
                    method: str,
                    out: str,
                    where: Optional[str] = None,
                    akd: bool = False,
                    teacher_ckpt: Optional[str] = None,
                    loss_weight: Optional[float] = None,
                    input_size: Optional[Tuple[int, int]] = None,
                    verify: bool = True,
                    device: str = 'cpu',
                    force: bool = False,
                    command: str = '') -> Generated:
    """Writes the distillation config of ``teacher`` -> ``student``.

    Args:
        teacher (str): The teacher config (a file or ``pkg::path``).
        student (str): The student config; the written config's ``_base_``.
        method (str): A key of :data:`~.methods.METHODS`.
        out (str): Where to write.
        where (str, optional): ``'neck'``, ``'logits'`` or module names;
            None: :func:`~.pairing.default_where` of the student.
        akd (bool): With Avatars (``AvatarDistiller`` and AKD's hooks).
        teacher_ckpt (str, optional): The teacher's checkpoint.
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
    if osp.exists(out) and not force:
        raise ConfigError(f'--out: {out} exists; pass --force to overwrite '
                          'it')
    if loss_weight is not None:
        try:
            check_range('distill_config.py', '--loss-weight', loss_weight, 0,
                        low_open=True)
        except (TypeError, ValueError) as err:
            raise ConfigError(str(err)) from None
    if verify:
        check_device(device)
    configs = {'--teacher': load(teacher, '--teacher'),
               '--student': load(student, '--student')}
    # Both at the size the student trains at: the size both will see.
    size = tuple(input_size) if input_size else input_size_of(
        configs['--student'])
    probes = {key: probe_model(cfg, size, key=key)
              for key, cfg in configs.items()}
    t_probe, s_probe = probes['--teacher'], probes['--student']
    if t_probe.task != s_probe.task:
        raise ConfigError(f'--teacher is a {t_probe.task} model and '
                          f'--student a {s_probe.task} model; both must be '
                          'one task')
    spec = METHODS[method]
    if spec.needs_boxes and s_probe.task != 'det':
        raise ConfigError(f'--method {method} reads the ground-truth boxes: '
                          'detectors only')
    where = where or default_where(s_probe)
    modules = modules_of(where)
    if modules:
        _check_modules(modules, probes)
        probes = {key: probe_model(cfg, size, modules, key=key)
                  for key, cfg in configs.items()}
        t_probe, s_probe = probes['--teacher'], probes['--student']
    pairs, notes = pair_outputs(t_probe, s_probe, where)
    distiller = distiller_cfg(pairs, method, where, s_probe.two_stage,
                              loss_weight)
    resized = [_resized(pair) for pair in pairs if pair.resize]

    def text(path: str) -> str:
        return render(
            command, teacher, student, path, s_probe.scope,
            algorithm_of(where, s_probe.task), distiller,
            spec.source(where, s_probe.two_stage), notes, teacher_ckpt, akd,
            'custom_hooks' in configs['--student'], resized)

    seconds = verify_config(text, s_probe.task, size, device) \
        if verify else None
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text(out))
    lines = [f'{len(pairs)} pair(s) at {where}:'] + [
        f'  teacher {p.teacher.name} {p.teacher.shape} <- student '
        f'{p.student.name} {p.student.shape}{p.resize_note()}' for p in pairs
    ]
    return Generated(out, lines, notes, size, seconds)


def _resized(pair: Pair) -> str:
    """The header line of a pair across strides."""
    side, factor = pair.resize
    out, other = (pair.teacher, pair.student) if side == 'teacher' else (
        pair.student, pair.teacher)
    return (f'the {side}\'s {out.name} (stride {out.stride}) is upsampled '
            f'x{factor} ({RESIZE_MODE}) to the size of the '
            f'{"student" if side == "teacher" else "teacher"}\'s '
            f'{other.name} (stride {other.stride})')


def _check_modules(modules: Sequence[str], probes) -> None:
    """A named error for a ``--where`` module missing on either side,
    listing both sides' recordable outputs."""
    missing = {key: [m for m in modules if m not in probe.modules]
               for key, probe in probes.items()}
    if any(missing.values()):
        where = '; '.join(f'the {key[2:]} has no module {names}'
                          for key, names in missing.items() if names)
        tables = '\n'.join(f'{key[2:]}:\n{probe.table()}'
                           for key, probe in probes.items())
        raise ConfigError(
            f'--where: {where}. The recordable outputs of both (every '
            f'module name is accepted; `--list` prints these):\n{tables}')
