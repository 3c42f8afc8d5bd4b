"""List what a detector or segmentor can distil; write a distillation config.

Usage::

    python tools/misc/distill_config.py --list CONFIG [--input-size H W]
    python tools/misc/distill_config.py --teacher T --student S \\
        --method METHOD [--where neck|logits|MODULE[,MODULE]] \\
        [--akd] [--teacher-ckpt CKPT] [--loss-weight W] --out OUT.py [--force]

``--list`` builds the model (random weights, CPU, no checkpoint), runs one
forward on a dummy batch of the config's input size and prints the
backbone stages, neck levels and class logits with shape, channels and
stride (the heads' inputs are the neck levels, or without a neck the
backbone stages, listed once under those). The second form pairs the
teacher's and the student's outputs at ``--where`` by stride, adds a
student-side connector where channels differ, takes the method's published
defaults and writes a config on the student's (data, schedule, hooks) that
``tools/train.py OUT.py`` trains as it is.
T and S are config files or ``pkg::path`` configs. METHOD is a key of
``mmakd.config_gen.METHODS`` (``--help`` lists them; docs/tools.md gives
each one's loss and defaults).
"""
import argparse
import os
import os.path as osp
import shlex
import sys
from typing import Optional, Sequence

from mmengine.logging import print_log

# MMRazor 1.0.0 needs mmakd's fixes on torch 2.x before it is imported.
from mmakd.config_gen import (METHODS, ConfigError, algorithm_of,
                              default_where, distiller_cfg, modules_of,
                              pair_outputs, probe_model, render)
from mmakd.utils import load_config


class ToolError(Exception):
    """A bad argument: printed as argparse prints its own errors."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='distill_config.py', description=__doc__.split('\n')[0])
    parser.add_argument('--list', metavar='CONFIG',
                        help='print what CONFIG\'s model can record')
    parser.add_argument('--input-size', nargs=2, type=int,
                        metavar=('H', 'W'),
                        help="dummy image size (default: the config's)")
    parser.add_argument('--teacher', metavar='T', help='teacher config')
    parser.add_argument('--student', metavar='S', help='student config')
    parser.add_argument('--method', choices=sorted(METHODS),
                        help='distillation loss')
    parser.add_argument('--where',
                        help="'neck', 'logits' or module names, comma "
                        "separated (default: a detector's neck, else the "
                        'logits)')
    parser.add_argument('--akd', action='store_true',
                        help='distil with Avatars (AvatarDistiller)')
    parser.add_argument('--teacher-ckpt', help="the teacher's checkpoint")
    other_keys = ', '.join(f'{m.weight_key} for {name}'
                           for name, m in sorted(METHODS.items())
                           if m.weight_key != 'loss_weight')
    parser.add_argument('--loss-weight', type=float,
                        help="instead of the method's published weight "
                        f'({other_keys})')
    parser.add_argument('--out', help='the config to write')
    parser.add_argument('--force', action='store_true',
                        help='overwrite --out')
    args = parser.parse_args(argv)
    if args.list is None:
        names = ('teacher', 'student', 'method', 'out')
        missing = [
            f'--{name}' for name in names if getattr(args, name) is None
        ]
        if missing:
            parser.error(f'{", ".join(missing)} required (or --list CONFIG)')
    return args


def _load(path: str, key: str):
    try:
        return load_config(path)
    except (FileNotFoundError, OSError) as err:
        raise ToolError(f'{key}: cannot load {path!r}: {err}') from None


def list_outputs(args: argparse.Namespace) -> str:
    """The ``--list`` table of one config."""
    cfg = _load(args.list, '--list')
    probe = probe_model(cfg, _size(args), key='--list')
    return (f'{args.list} ({probe.task}, input {tuple(probe.input_shape)}):'
            f'\n{probe.table()}')


def _size(args: argparse.Namespace):
    return tuple(args.input_size) if args.input_size else None


def generate(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """Writes ``--out``; returns what was done, for the console."""
    if osp.exists(args.out) and not args.force:
        raise ToolError(f'--out: {args.out} exists; pass --force to '
                        'overwrite it')
    configs = {key: _load(path, key) for key, path in
               (('--teacher', args.teacher), ('--student', args.student))}
    probes = {
        key: probe_model(cfg, _size(args), key=key)
        for key, cfg in configs.items()
    }
    teacher, student = probes['--teacher'], probes['--student']
    if teacher.task != student.task:
        raise ToolError(f'--teacher is a {teacher.task} model and --student '
                        f'a {student.task} model; both must be one task')
    method = METHODS[args.method]
    if method.needs_boxes and student.task != 'det':
        raise ToolError(f'--method {args.method} reads the ground-truth '
                        'boxes: detectors only')
    where = args.where or default_where(student)
    modules = modules_of(where)
    if modules:
        for key, probe in probes.items():
            unknown = [m for m in modules if m not in probe.modules]
            if unknown:
                raise ToolError(
                    f'--where: the {key[2:]} has no module {unknown}; its '
                    f'recordable outputs are:\n{probe.table()}\n(every '
                    'module name is accepted; `--list` prints these)')
        probes = {
            key: probe_model(cfg, _size(args), modules, key=key)
            for key, cfg in configs.items()
        }
        teacher, student = probes['--teacher'], probes['--student']
    pairs, notes = pair_outputs(teacher, student, where)
    for note in notes:
        print_log(f'distill_config: {note}', logger='current')
    distiller = distiller_cfg(pairs, args.method, where, student.two_stage,
                              args.loss_weight)
    command = 'python tools/misc/distill_config.py ' + ' '.join(
        shlex.quote(a) for a in argv)
    text = render(
        command, args.teacher, args.student, args.out, student.scope,
        algorithm_of(where, student.task), distiller,
        method.source(where, student.two_stage), notes, args.teacher_ckpt,
        args.akd, 'custom_hooks' in configs['--student'])
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    lines = [f'{len(pairs)} pair(s) at {where}:'] + [
        f'  teacher {p.teacher.name} {p.teacher.shape} <- student '
        f'{p.student.name} {p.student.shape}' for p in pairs
    ]
    return '\n'.join(lines + [f'written: {args.out}'])


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        print(list_outputs(args) if args.list else generate(args, argv))
    except (ToolError, ConfigError) as err:
        print(f'distill_config.py: error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
