"""Pairs a teacher's and a student's outputs for distillation, by stride."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .probe import ConfigError, ModelProbe, Output

#: ``--where`` values that name a kind of output rather than modules.
WHERE_KINDS = {'neck': 'neck level', 'logits': 'logits'}


@dataclass(frozen=True)
class Pair:
    """A teacher output and the student output distilled towards it."""
    teacher: Output
    student: Output


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
        notes += [f'{label}: {note}' for note in dropped]
        pairs += found
    if not pairs:
        raise ConfigError(
            f'--where {where}: no teacher and student outputs of the same '
            f'stride to pair{_tables(teacher, student)}')
    for pair in pairs:
        t, s = pair.teacher, pair.student
        if t.shape[2:] != s.shape[2:]:
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
