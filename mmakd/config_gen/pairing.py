"""Pairs a teacher's and a student's outputs for distillation, by stride."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .probe import ConfigError, ModelProbe, Output

#: ``--where`` values that name a kind of output rather than modules.
WHERE_KINDS = {'neck': 'neck level', 'logits': 'logits'}


#: How the coarser of two outputs of different strides is resized to the
#: finer one's size (:class:`~mmakd.models.connectors.ResizeConnector`).
RESIZE_MODE = 'bilinear'


@dataclass(frozen=True)
class Pair:
    """A teacher output and the student output distilled towards it.

    Args:
        teacher (Output): The teacher's output.
        student (Output): The student's.
        resize (tuple[str, int], optional): ``(side, factor)``: the side
            (``'teacher'`` or ``'student'``) whose output is upsampled by
            ``factor`` to the other's size; None where both have one size.
    """
    teacher: Output
    student: Output
    resize: Optional[Tuple[str, int]] = None

    def resize_note(self) -> str:
        """`` (student x2 bilinear)``, or '' without a resize."""
        if self.resize is None:
            return ''
        side, factor = self.resize
        return f' ({side} x{factor} {RESIZE_MODE})'


def default_where(probe: ModelProbe) -> str:
    """``'neck'`` for a detector with a neck, else ``'logits'``."""
    if probe.task == 'det' and probe.of_kind('neck level'):
        return 'neck'
    return 'logits'


def modules_of(where: str) -> List[str]:
    """The module names of a ``--where MODULE[,MODULE...]``; none for
    ``neck`` or ``logits``."""
    if where in WHERE_KINDS:
        return []
    return [name.strip() for name in where.split(',') if name.strip()]


def _group(probe: ModelProbe, where: str, module: Optional[str]) -> List[
        Output]:
    if module is None:
        return probe.of_kind(WHERE_KINDS[where])
    return [o for o in probe.outputs if o.source == module]


def _tables(teacher: ModelProbe, student: ModelProbe) -> str:
    return (f'\nteacher:\n{teacher.table()}\nstudent:\n{student.table()}')


def pair_outputs(teacher: ModelProbe, student: ModelProbe,
                 where: str) -> Tuple[List[Pair], List[str]]:
    """Pairs outputs of the same stride at ``where``.

    Multi-level outputs are paired level by level by stride; a level that
    the other side lacks is dropped, with a line in the returned notes.
    Flat outputs (no spatial dimensions) pair one to one.

    Args:
        teacher (ModelProbe): The teacher's outputs.
        student (ModelProbe): The student's outputs.
        where (str): ``'neck'``, ``'logits'`` or module names, comma
            separated (recorded on both sides).

    Returns:
        tuple[list[Pair], list[str]]: The pairs, and what was dropped.

    Raises:
        ConfigError: Nothing at ``where`` on one side, nothing pairs,
            paired spatial sizes differ, or class logits of different
            counts; the message holds both tables.
    """
    groups = modules_of(where) or [None]
    pairs: List[Pair] = []
    notes: List[str] = []
    for module in groups:
        label = module or where
        t_outs, s_outs = (_group(p, where, module) for p in (teacher,
                                                             student))
        for side, outs in (('teacher', t_outs), ('student', s_outs)):
            if not outs:
                raise ConfigError(
                    f'--where {label}: the {side} has no such output'
                    f'{_tables(teacher, student)}')
        found, dropped = _by_stride(t_outs, s_outs)
        if not found and (module is not None or where == 'logits'):
            found, dropped = _across_strides(t_outs, s_outs) or (found,
                                                                 dropped)
        notes += [f'{label}: {note}' for note in dropped]
        pairs += found
    if not pairs:
        raise ConfigError(
            f'--where {where}: no teacher and student outputs of the same '
            f'stride to pair{_tables(teacher, student)}')
    for pair in pairs:
        t, s = pair.teacher, pair.student
        if pair.resize is not None:
            side, factor = pair.resize
            small, large = (t, s) if side == 'teacher' else (s, t)
            if tuple(x * factor for x in small.shape[2:]) != large.shape[2:]:
                raise ConfigError(
                    f'--where {where}: {small.name} of the {side} has '
                    f'spatial size {small.shape[2:]}, which x{factor} is '
                    f'not the {large.shape[2:]} of the other side at this '
                    'input size; give --input-size a multiple of '
                    f'{max(t.stride, s.stride)}{_tables(teacher, student)}')
        elif t.shape[2:] != s.shape[2:]:
            raise ConfigError(
                f'--where {where}: {t.name} of the teacher has spatial size '
                f'{t.shape[2:]} and {s.name} of the student {s.shape[2:]} '
                f'at the same stride; they cannot be paired'
                f'{_tables(teacher, student)}')
        if t.kind == 'logits' and t.channels != s.channels:
            raise ConfigError(
                f'--where logits: the teacher has {t.channels} class logits '
                f'({t.name}) and the student {s.channels} ({s.name}); class '
                'logits of different heads cannot be compared: use --where '
                f'neck or a module{_tables(teacher, student)}')
    return pairs, notes


def _across_strides(t_outs: Sequence[Output], s_outs: Sequence[Output]
                    ) -> Optional[Tuple[List[Pair], List[str]]]:
    """One output a side at strides that differ by an integer factor: the
    coarser upsampled to the finer (segmentation KD pairs logits so);
    None otherwise."""
    if len(t_outs) != 1 or len(s_outs) != 1:
        return None
    t, s = t_outs[0], s_outs[0]
    if t.stride is None or s.stride is None or t.stride == s.stride:
        return None
    coarse, fine = max(t.stride, s.stride), min(t.stride, s.stride)
    if coarse % fine:
        return None
    side = 'teacher' if t.stride > s.stride else 'student'
    return [Pair(t, s, (side, coarse // fine))], []


def _by_stride(t_outs: Sequence[Output],
               s_outs: Sequence[Output]) -> Tuple[List[Pair], List[str]]:
    if all(o.stride is None for o in (*t_outs, *s_outs)):
        if len(t_outs) == len(s_outs):
            return [Pair(t, s) for t, s in zip(t_outs, s_outs)], []
        return [], [f'{len(t_outs)} teacher and {len(s_outs)} student flat '
                    'outputs: not paired']
    students: Dict[int, Output] = {}
    for out in s_outs:
        students.setdefault(out.stride, out)
    pairs, notes, used = [], [], set()
    for out in t_outs:
        match = students.get(out.stride)
        if match is None or out.stride in used:
            notes.append(f'teacher {out.name} (stride {out.stride}) has no '
                         'student output of that stride: not distilled')
            continue
        used.add(out.stride)
        pairs.append(Pair(out, match))
    notes += [
        f'student {out.name} (stride {out.stride}) has no teacher output '
        'of that stride: not distilled'
        for stride, out in students.items() if stride not in used
    ]
    return pairs, notes
