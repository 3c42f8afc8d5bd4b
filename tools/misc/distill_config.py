"""List what a detector or segmentor can distil; write a distillation config.

Usage::

    python tools/misc/distill_config.py --list CONFIG [--input-size H W]
    python tools/misc/distill_config.py --teacher T [--teacher T2 ...] \\
        --student S --method METHOD [--where neck|logits|MODULE[,MODULE]] \\
        [--akd] [--teacher-ckpt CKPT ...] [--loss-weight W] \\
        [--input-size H W] [--device cpu|cuda] [--no-verify] \\
        --out OUT.py [--force]

``--list`` builds the model (random weights, CPU, no checkpoint), runs one
forward on a dummy batch of the config's input size and prints the
backbone stages, neck levels and class logits with shape, channels and
stride (the heads' inputs are the neck levels, or without a neck the
backbone stages, listed once under those). The second form probes both
models at the student's input size, pairs their outputs at ``--where`` by
stride (one output a side at strides of an integer ratio: the coarser
upsampled), adds a student-side connector where channels differ, takes the
method's published defaults, runs one training step of the result on a
generated batch (``--device``, the CPU by default) and writes it only if
that step succeeds: ``tools/train.py OUT.py`` trains it as it is.
With ``--teacher`` given more than once, each teacher is paired with the
student and the config distils from all of them (``MultiTeacherDistill``;
each teacher's losses at ``1/T`` of the weight).
T and S are config files or ``pkg::path`` configs. METHOD is a key of
``mmakd.config_gen.METHODS`` (``--help`` lists them; docs/tools.md gives
each one's loss and defaults).
"""
import argparse
import shlex
import sys
from typing import Optional, Sequence

from mmengine.logging import print_log

# MMRazor 1.0.0 needs mmakd's fixes on torch 2.x before it is imported.
from mmakd.config_gen import (METHODS, ConfigError, generate_config,
                              list_outputs)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='distill_config.py', description=__doc__.split('\n')[0])
    parser.add_argument('--list', metavar='CONFIG',
                        help='print what CONFIG\'s model can record')
    parser.add_argument('--input-size', nargs=2, type=int,
                        metavar=('H', 'W'),
                        help="image size of the probes and the verification "
                        "(default: the student's; with --list, the config's)")
    parser.add_argument('--teacher', metavar='T', action='append',
                        help='teacher config; given more than once, a '
                        'multi-teacher config (teachers t0, t1, ...)')
    parser.add_argument('--student', metavar='S', help='student config')
    parser.add_argument('--method', choices=sorted(METHODS),
                        help='distillation loss')
    parser.add_argument('--where',
                        help="'neck', 'logits' or module names, comma "
                        "separated (default: a detector's neck, else the "
                        'logits)')
    parser.add_argument('--akd', action='store_true',
                        help='distil with Avatars (AvatarDistiller)')
    parser.add_argument('--teacher-ckpt', action='append',
                        help="the teacher's checkpoint (with several "
                        '--teacher: one per teacher, in their order)')
    other_keys = ', '.join(f'{m.weight_key} for {name}'
                           for name, m in sorted(METHODS.items())
                           if m.weight_key != 'loss_weight')
    parser.add_argument('--loss-weight', type=float,
                        help="instead of the method's published weight "
                        f'({other_keys})')
    parser.add_argument('--device', default='cpu',
                        help='where the verification step runs '
                        '(default: cpu)')
    parser.add_argument('--no-verify', action='store_true',
                        help='write without running one training step first')
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    size = tuple(args.input_size) if args.input_size else None
    try:
        if args.list:
            print(list_outputs(args.list, size))
            return 0
        done = generate_config(
            args.teacher, args.student, args.method, args.out,
            where=args.where, akd=args.akd, teacher_ckpt=args.teacher_ckpt,
            loss_weight=args.loss_weight, input_size=size,
            verify=not args.no_verify, device=args.device, force=args.force,
            command='python tools/misc/distill_config.py ' +
            ' '.join(shlex.quote(a) for a in argv))
    except ConfigError as err:
        print(f'distill_config.py: error: {err}', file=sys.stderr)
        return 2
    for note in done.notes:
        print_log(f'distill_config: {note}', logger='current')
    verified = 'not verified (--no-verify)' if done.verify_seconds is None \
        else (f'verified: one training step at {done.input_size[0]}x'
              f'{done.input_size[1]} on {args.device} in '
              f'{done.verify_seconds:.1f} s')
    print('\n'.join(done.lines + [verified, f'written: {done.out}']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
