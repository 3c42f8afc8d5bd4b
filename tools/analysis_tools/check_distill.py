"""Check a distillation config on its own data before a long run.

Usage::

    python tools/analysis_tools/check_distill.py CONFIG [--teacher-ckpt CKPT]
        [--batches K] [--cfg-options KEY=VALUE ...]

On K batches of the config's training data (default 2), with the config's
model (the teacher loaded from ``model.teacher_ckpt`` or ``--teacher-ckpt``)
it reports:

- the teacher's task loss against the same architecture freshly
  initialised: a teacher that is no better is untrained (the silent random
  teacher);
- every recorder, whether it fired, and the shapes each distill loss gets;
- per distill loss at step 0: its value, the norm of its gradient on the
  student beside the task loss's, and for Avatar losses the mean sigma and
  spread;
- one verdict line per problem (an untrained teacher; a distill loss whose
  gradient is over 100 times, or under 1e-4 times, the task loss's; NaN or
  inf; a recorder that never fired). The exit status is 1 when there is one.
"""
import argparse
import copy
import itertools
import math
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

# MMRazor 1.0.0 needs mmakd's fixes on torch 2.x before it is imported.
import mmakd  # noqa: F401

# isort: split
import torch
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmrazor.registry import MODELS

from mmakd.models.algorithms.multi_teacher_distill import ENTRY_KEYS
from mmakd.utils import load_config, resolve_cfg_paths

#: A teacher whose loss is not below this share of a fresh model's is
#: reported as untrained.
UNTRAINED_RATIO = 0.9
#: Gradient-norm ratios (distill / task) outside these bounds are reported.
GRAD_RATIO_BOUNDS = (1e-4, 100.0)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a distillation config')
    parser.add_argument('--teacher-ckpt',
                        help="the teacher's checkpoint (instead of the "
                        "config's model.teacher_ckpt)")
    parser.add_argument('--batches', type=int, default=2,
                        help='training batches to check on (default 2)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as tools/train.py')
    args = parser.parse_args(argv)
    if args.batches < 1:
        parser.error(f'--batches must be >= 1, but got {args.batches}')
    return args


def _task_loss(losses: Dict[str, torch.Tensor],
               prefix: str = '') -> torch.Tensor:
    """The sum of a loss dict's losses (keys with 'loss', as mmengine)."""
    total = [
        v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
        for k, v in losses.items() if 'loss' in k and k.startswith(prefix)
    ]
    return sum(total)


def task_loss_of(model: torch.nn.Module, teacher: torch.nn.Module,
                 batches: List[Dict]) -> float:
    """Mean task loss of ``teacher`` on ``batches`` (preprocessed by the
    distillation model's preprocessor)."""
    values = []
    with torch.no_grad():
        for batch in batches:
            data = model.data_preprocessor(copy.deepcopy(batch), True)
            values.append(float(_task_loss(teacher(
                data['inputs'], data['data_samples'], mode='loss'))))
    return sum(values) / len(values)


def teachers_of(model: torch.nn.Module, cfg
                ) -> List[Tuple[str, torch.nn.Module, Dict, Tuple[str, Any]]]:
    """(name, loaded teacher, its model config, (its checkpoint's key,
    value)) of the teacher, or of each of several (``model.teachers``)."""
    if 'teachers' not in cfg.model:
        return [('teacher', model.teacher, cfg.model.teacher,
                 ('model.teacher_ckpt', cfg.model.get('teacher_ckpt')))]
    return [(f'teacher {name}', model.teacher[name],
             {k: v for k, v in entry.items() if k not in ENTRY_KEYS},
             (f'model.teachers.{name}.ckpt', entry.get('ckpt')))
            for name, entry in cfg.model.teachers.items()]


def _grad_norm(loss: torch.Tensor, params: List[torch.nn.Parameter]) -> float:
    grads = torch.autograd.grad(
        loss, params, retain_graph=True, allow_unused=True)
    squares = [g.pow(2).sum() for g in grads if g is not None]
    return float(torch.stack(squares).sum().sqrt()) if squares else 0.0


def _shapes(value) -> str:
    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape))
    if isinstance(value, (tuple, list)):
        return '[' + ', '.join(_shapes(v) for v in value) + ']'
    return type(value).__name__


def check(cfg, batches: int) -> Tuple[List[str], List[str]]:
    """Runs the checks; returns (report lines, problems)."""
    init_default_scope(cfg.get('default_scope', 'mmrazor'))
    loader = Runner.build_dataloader(cfg.train_dataloader)
    data = list(itertools.islice(iter(loader), batches))
    model_cfg = copy.deepcopy(cfg.model)
    model = MODELS.build(model_cfg)
    # As the Runner does; a teacher loaded from teacher_ckpt is kept.
    model.init_weights()
    model.train()
    lines, problems = [], []
    for name, teacher, teacher_cfg, ckpt in teachers_of(model, cfg):
        fresh = MODELS.build(resolve_cfg_paths(copy.deepcopy(teacher_cfg)))
        fresh.init_weights()
        fresh.eval()
        loaded = task_loss_of(model, teacher, data)
        initial = task_loss_of(model, fresh, data)
        lines.append(f'{name} task loss {loaded:.4g}, the same '
                     f'architecture freshly initialised {initial:.4g} (mean '
                     f'of {len(data)} batches)')
        if not loaded < UNTRAINED_RATIO * initial:
            problems.append(
                f'the {name} is no better than a fresh one ({loaded:.4g} vs '
                f'{initial:.4g}): untrained, or {ckpt[0]} is wrong (it is '
                f'{ckpt[1]!r})')

    batch = model.data_preprocessor(copy.deepcopy(data[0]), True)
    losses = model.loss(batch['inputs'], batch['data_samples'])
    distiller = model.distiller
    for side, manager in (('student', distiller.student_recorders),
                          ('teacher', distiller.teacher_recorders)):
        for name, recorder in manager.recorders.items():
            calls = len(recorder.data_buffer)
            lines.append(f'{side} recorder {name!r} '
                         f'({type(recorder).__name__} of '
                         f'{recorder.source!r}): {calls} call(s)')
            if not calls:
                problems.append(f'the {side} recorder {name!r} never fired: '
                                f'is {recorder.source!r} in the model and '
                                'called in its forward?')
    for loss_name, mapping in distiller.loss_forward_mappings.items():
        received = ', '.join(
            f'{key}={_shapes(distiller.get_record(**record))}'
            for key, record in mapping.items())
        lines.append(f'{loss_name} receives {received}')

    params = [p for p in model.student.parameters() if p.requires_grad]
    task = _task_loss(losses, 'student.')
    task_grad = _grad_norm(task, params)
    lines.append(f'task loss {float(task.detach()):.4g}, gradient norm on '
                 f'the student {task_grad:.4g}')
    for key, value in losses.items():
        if not key.startswith('distill.'):
            continue
        value = float(value.detach()) if isinstance(
            value, torch.Tensor) else value
        if not math.isfinite(value):
            problems.append(f'{key} is {value}')
            continue
        if 'loss' not in key:  # Avatar statistics
            lines.append(f'{key} {value:.4g}')
            continue
        grad = _grad_norm(losses[key], params)
        ratio = grad / task_grad if task_grad else math.inf
        lines.append(f'{key} {value:.4g}, gradient norm {grad:.4g} '
                     f'(x{ratio:.3g} the task loss\'s)')
        low, high = GRAD_RATIO_BOUNDS
        if not low <= ratio <= high:
            problems.append(
                f'{key}: its gradient on the student is x{ratio:.3g} the '
                f"task loss's (outside [{low:g}, {high:g}]); adjust its "
                'loss weight')
    return lines, problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = cfg.get('model', {})
    if 'distiller' not in model or not {'teacher', 'teachers'} & set(model):
        print(f'check_distill.py: error: {args.config}: expected a '
              'distillation config (model.teacher or model.teachers, and '
              f'model.distiller), but the model is {model.get("type")!r}',
              file=sys.stderr)
        return 2
    if args.teacher_ckpt:
        if 'teachers' in model:
            print('check_distill.py: error: --teacher-ckpt is for one '
                  'teacher; give each of several with --cfg-options '
                  'model.teachers.<name>.ckpt=PATH', file=sys.stderr)
            return 2
        cfg.model.teacher_ckpt = args.teacher_ckpt
    lines, problems = check(cfg, args.batches)
    print('\n'.join(lines))
    for problem in problems:
        print(f'PROBLEM: {problem}')
    print(f'{len(problems)} problem(s)' if problems else 'no problem found')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
