"""The AKD losses in half precision: fp16 features and bf16 autocast (CPU).

Teacher features reach 1e4 and some channels are dead (0 over the whole
batch). The reference is float32 on the same values (the half-precision
features and Avatars cast to float32), so the comparison measures what the
wrapper computes, not the rounding of the features. Inputs are tiny: bf16
on a CPU is slow. The GPU fp16 counterpart is
``tools/analysis_tools/check_mixed_precision.py --device cuda``.
"""
import importlib.util
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from helpers import CWD
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from mmrazor.registry import MODELS

import mmakd  # noqa: F401
from mmakd.models.losses.uncertainty import standardise

_TOOL = Path(__file__).resolve().parents[3] / 'tools' / 'analysis_tools' / \
    'check_mixed_precision.py'
_spec = importlib.util.spec_from_file_location('check_mixed_precision', _TOOL)
check_mixed_precision = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_mixed_precision)
#: The script's own computation, so that test and script agree.
loss_and_grad = check_mixed_precision.loss_and_grad

MODES = ['paper', 'official', 'none']
FGD = dict(type='MMAKDFGDLoss', in_channels=4, temp=0.5, alpha_fgd=1e-3,
           beta_fgd=5e-4, gamma_fgd=1e-3, lambda_fgd=5e-6)


def teacher_feature(dtype: torch.dtype, scale: float = 1e4) -> torch.Tensor:
    """(2, 4, 6, 6) of magnitude up to ``scale``, channel 1 dead."""
    gen = torch.Generator().manual_seed(0)
    feat = torch.rand(2, 4, 6, 6, generator=gen) * scale
    feat[:, 1] = 0
    return feat.to(dtype)


def samples() -> List[DetDataSample]:
    out = []
    for boxes in ([[4., 4., 20., 28.]], [[10., 2., 30., 12.]]):
        sample = DetDataSample()
        sample.set_metainfo(dict(img_shape=(48, 48),
                                 batch_input_shape=(48, 48)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes), labels=torch.zeros(1).long())
        out.append(sample)
    return out


def build(base: Dict, mode: str):
    torch.manual_seed(0)  # FGD's blocks: the same weights in every run
    return MODELS.build(
        dict(type='UncertaintyAwareKDLoss', base_loss=base, uncertainty=mode,
             avatar_generator=dict()))  # its own, default generator


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('base', ['cwd', 'fgd'])
def test_bf16_autocast_matches_float32(mode, base):
    base_cfg, extra = (CWD, {}) if base == 'cwd' else (FGD, dict(
        data_samples=samples()))
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    images = torch.randn(2, 3, 6, 6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        student = conv(images) * 50  # bf16, as a student's FPN level
        teacher = teacher_feature(torch.bfloat16)
        torch.manual_seed(2)
        avatars = build(base_cfg, mode).avatar_generator(teacher)
        assert student.dtype == avatars.dtype == torch.bfloat16
        half = loss_and_grad(build(base_cfg, mode), student, teacher,
                             avatars, extra)
    full = loss_and_grad(build(base_cfg, mode), student.float(),
                         teacher.float(), avatars.float(), extra)
    for value in half:
        assert torch.isfinite(value).all()
    assert half[0] != 0 and half[1].abs().sum() > 0
    # bf16 keeps 8 bits: FGD's convolutions run in bf16 under autocast.
    torch.testing.assert_close(half[0], full[0], rtol=2e-2, atol=0)
    torch.testing.assert_close(
        half[1], full[1], rtol=5e-2, atol=2e-2 * full[1].abs().max().item())


@pytest.mark.parametrize('base', [
    CWD,
    dict(type='MGDLoss', alpha_mgd=2e-5),
    dict(type='PKDLoss'),
    dict(type='L2Loss'),
])
@pytest.mark.parametrize('scale', [3e2, 1e3, 1e4])
def test_official_fp16_features_match_float32(base, scale):
    """The released form standardised fp16 features in fp16: loss 0 (or NaN)
    and zero gradient from about 1e3 on."""
    teacher = teacher_feature(torch.float16, scale)
    torch.manual_seed(3)
    student = (torch.randn(2, 4, 6, 6) * scale).half()
    avatars = build(base, 'official').avatar_generator(teacher)
    half = loss_and_grad(build(base, 'official'), student, teacher, avatars,
                         {}, grad_scale=2.0**16)  # GradScaler's initial
    full = loss_and_grad(build(base, 'official'), student.float(),
                         teacher.float(), avatars.float(), {})
    assert half[0] != 0 and half[1].abs().sum() > 0
    torch.testing.assert_close(half[0], full[0], rtol=1e-4, atol=0)
    torch.testing.assert_close(half[1], full[1], rtol=1e-4, atol=1e-6)


def test_standardise_statistics_are_float32():
    x = teacher_feature(torch.float16)
    out = standardise(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, standardise(x.float()))
    assert out[:, 1].abs().max() == 0  # a dead channel stays 0


@pytest.mark.parametrize('mode', MODES)
def test_distiller_step_under_bf16_autocast(mode):
    """A training step of AvatarDistiller (CWD) with 1e4 teacher features
    and a dead channel: finite losses, gradients into the student."""
    class Net(torch.nn.Module):

        def __init__(self, width, scale=1.0):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, width, 3, padding=1)
            self.head = torch.nn.Conv2d(width, 4, 1)
            with torch.no_grad():  # outputs up to ~scale, channel 1 dead
                self.head.weight.mul_(scale)
                self.head.bias.mul_(scale)
                self.head.weight[1] = 0
                self.head.bias[1] = 0

        def forward(self, x):
            return self.head(torch.relu(self.stem(x)))

    torch.manual_seed(0)
    student, teacher = Net(4), Net(8, scale=3e3)
    distiller = MODELS.build(
        dict(
            type='AvatarDistiller',
            uncertainty=mode,
            student_recorders=dict(
                feat=dict(type='ModuleOutputs', source='head')),
            teacher_recorders=dict(
                feat=dict(type='ModuleOutputs', source='head')),
            distill_losses=dict(loss_cwd=CWD),
            loss_forward_mappings=dict(
                loss_cwd=dict(
                    preds_S=dict(recorder='feat', from_student=True),
                    preds_T=dict(recorder='feat', from_student=False)))))
    distiller.prepare_from_student(student)
    distiller.prepare_from_teacher(teacher)
    images = torch.randn(2, 3, 6, 6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        with distiller.teacher_recorders, torch.no_grad():
            teacher(images)
        with distiller.student_recorders:
            student(images)
        losses = distiller.compute_distill_losses()
    record = distiller.teacher_recorders.get_recorder('feat')
    assert record.get_record_data().dtype == torch.bfloat16
    assert record.get_record_data().abs().max() > 1e3
    loss = losses['loss_cwd']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    grads = [p.grad for p in student.parameters()]
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize('dtype', ['bfloat16', 'float16'])
def test_check_mixed_precision_script_on_cpu(dtype, capsys):
    """The script that checks a GPU runs on the CPU too, and passes."""
    import importlib.util
    import os.path as osp
    path = osp.join(
        osp.dirname(osp.dirname(osp.dirname(osp.dirname(
            osp.abspath(__file__))))), 'tools', 'analysis_tools',
        'check_mixed_precision.py')
    spec = importlib.util.spec_from_file_location('check_mp', path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(['--device', 'cpu', '--dtype', dtype, '--size', '4',
                        '4']) == 0
    out = capsys.readouterr().out
    assert '6 passed, 0 failed' in out and 'FAIL' not in out
