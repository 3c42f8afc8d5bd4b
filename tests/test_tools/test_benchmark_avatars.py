"""The overhead benchmark gives every variant the base recipe's weights."""
import os.path as osp
import sys

import torch
from helpers import REPO_ROOT

from mmrazor.registry import MODELS

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
import benchmark_avatars  # noqa: E402


def _distiller(distiller_type: str):
    return MODELS.build(
        dict(
            type=distiller_type,
            student_recorders=dict(
                fpn=dict(type='ModuleOutputs', source='neck')),
            teacher_recorders=dict(
                fpn=dict(type='ModuleOutputs', source='neck')),
            # FGDLoss has parameters of its own (its context blocks).
            distill_losses=dict(
                loss_fgd=dict(type='FGDLoss', in_channels=8)),
            loss_forward_mappings=dict(
                loss_fgd=dict(
                    preds_S=dict(from_student=True, recorder='fpn'),
                    preds_T=dict(from_student=False, recorder='fpn'),
                    data_samples=dict(from_student=True, recorder='fpn')))))


def test_loss_parameters_reach_the_wrapped_loss():
    torch.manual_seed(0)
    base = _distiller('ConfigurableDistiller')
    torch.manual_seed(1)
    akd = _distiller('AvatarDistiller')
    state = benchmark_avatars.akd_state_dict(base.state_dict(),
                                             akd.state_dict())
    akd.load_state_dict(state, strict=True)
    wrapped = akd.distill_losses['loss_fgd'].base_loss
    for name, value in base.distill_losses['loss_fgd'].state_dict().items():
        assert torch.equal(wrapped.state_dict()[name], value), name
