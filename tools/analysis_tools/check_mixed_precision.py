"""Check the AKD losses under mixed precision against float32.

For CWD and FGD wrapped in ``UncertaintyAwareKDLoss``, in every uncertainty
mode, one forward and backward under autocast (fp16 on CUDA, bf16 on the
CPU by default) with teacher features up to ``--scale`` (1e4) and a dead
channel, against float32 on the same values: the half-precision student,
teacher and Avatars cast to float32. Prints one line per case and exits
with 1 if a loss or gradient is not finite or differs by more than the
tolerance of the half type. fp16 gradients are taken as
``torch.amp.GradScaler`` takes them: from the loss times 2**16, halving the
factor while the gradient overflows.

Example::

    python tools/analysis_tools/check_mixed_precision.py --device cuda
    python tools/analysis_tools/check_mixed_precision.py --device cpu
"""
import argparse
import sys
from typing import Dict, List, Tuple

import torch

#: (relative tolerance of the loss, of the gradient) per autocast dtype.
TOLERANCES = {torch.float16: (5e-3, 2e-2), torch.bfloat16: (2e-2, 5e-2)}
MODES = ('paper', 'official', 'none')


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument(
        '--dtype',
        choices=('float16', 'bfloat16'),
        help='autocast dtype (default: float16 on CUDA, bfloat16 on CPU)')
    parser.add_argument(
        '--scale',
        type=float,
        default=1e4,
        help='largest teacher feature value (default: 1e4)')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(8, 8),
        help='feature height and width (default: 8 8)')
    return parser.parse_args(argv)


def _samples(height: int, width: int) -> List:
    """Two detection samples with one box each, for FGD."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    out = []
    for box in ([0.1, 0.1, 0.5, 0.6], [0.3, 0.05, 0.9, 0.4]):
        sample = DetDataSample()
        shape = (height * 8, width * 8)
        sample.set_metainfo(dict(img_shape=shape, batch_input_shape=shape))
        scale = torch.tensor([shape[1], shape[0], shape[1], shape[0]])
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([box]) * scale, labels=torch.zeros(1).long())
        out.append(sample)
    return out


def _build(base: Dict, mode: str, device: str):
    from mmrazor.registry import MODELS
    torch.manual_seed(0)  # FGD's blocks get the same weights every time
    return MODELS.build(
        dict(type='UncertaintyAwareKDLoss', base_loss=base,
             uncertainty=mode,
             avatar_generator=dict())).to(device)  # its own generator


def loss_and_grad(loss_module,
                  student: torch.Tensor,
                  teacher: torch.Tensor,
                  avatars: torch.Tensor,
                  extra: Dict,
                  grad_scale: float = 1.0
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The loss and its gradient on the student, backward from
    ``loss * grad_scale`` as ``torch.amp.GradScaler`` does (an fp16
    student's gradient underflows without it)."""
    student = student.detach().requires_grad_()
    inputs = {loss_module.student_key: student,
              loss_module.teacher_key: teacher, **extra}
    loss, _ = loss_module.forward_avatars(inputs, avatars)
    (loss * grad_scale).backward()
    return loss.detach().float(), student.grad.float() / grad_scale


def check(base_name: str, mode: str, device: str, dtype: torch.dtype,
          scale: float, size: Tuple[int, int]) -> Tuple[bool, str]:
    """One case: (passed, the line to print)."""
    channels = 4
    base = dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=1.0)
    extra: Dict = {}
    if base_name == 'FGD':
        base = dict(type='MMAKDFGDLoss', in_channels=channels)
        extra = dict(data_samples=_samples(*size))
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, *size, generator=gen).to(device)
    teacher = (torch.rand(2, channels, *size, generator=gen) * scale)
    teacher[:, 1] = 0  # a dead channel
    conv = torch.nn.Conv2d(3, channels, 3, padding=1).to(device)
    grad_scale = 2.0**16 if dtype == torch.float16 else 1.0
    with torch.autocast(torch.device(device).type, dtype=dtype):
        student = conv(images) * 50
        teacher = teacher.to(device=device, dtype=student.dtype)
        avatars = _build(base, mode,
                         device).avatar_generator.manual_seed(1)(teacher)
        for _ in range(40):  # GradScaler: halve the scale on overflow
            half = loss_and_grad(
                _build(base, mode, device), student, teacher, avatars,
                extra, grad_scale)
            if torch.isfinite(half[1]).all() or grad_scale <= 1:
                break
            grad_scale /= 2
    full = loss_and_grad(
        _build(base, mode, device), student.float(), teacher.float(),
        avatars.float(), extra, 1.0)
    loss_rtol, grad_rtol = TOLERANCES[dtype]
    loss_err = ((half[0] - full[0]).abs() / full[0].abs().clamp(
        min=1e-12)).item()
    grad_err = ((half[1] - full[1]).abs().max() / full[1].abs().max().clamp(
        min=1e-12)).item()
    finite = bool(torch.isfinite(half[0]) and torch.isfinite(half[1]).all())
    nonzero = bool(half[0] != 0 and half[1].abs().sum() > 0)
    passed = finite and nonzero and loss_err <= loss_rtol and \
        grad_err <= grad_rtol
    line = (f'{base_name:4s} {mode:9s} {str(student.dtype):15s} '
            f'loss {half[0].item():12.6g} (fp32 {full[0].item():12.6g}, '
            f'rel. err {loss_err:.1e})  grad rel. err {grad_err:.1e} '
            f'(scale {grad_scale:g})  {"ok" if passed else "FAIL"}')
    return passed, line


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    import mmakd  # noqa: F401  (registers the losses)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        print('check_mixed_precision: --device cuda, but CUDA is not '
              'available', file=sys.stderr)
        return 2
    dtype = getattr(torch, args.dtype) if args.dtype else (
        torch.float16 if args.device.startswith('cuda') else torch.bfloat16)
    print(f'torch {torch.__version__}, device {args.device}, autocast '
          f'{dtype}, teacher features up to {args.scale:g}, one dead '
          f'channel, features {args.size[0]}x{args.size[1]}')
    results = [
        check(base, mode, args.device, dtype, args.scale, tuple(args.size))
        for base in ('CWD', 'FGD') for mode in MODES
    ]
    for _, line in results:
        print(line)
    failed = sum(not ok for ok, _ in results)
    print(f'{len(results) - failed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
