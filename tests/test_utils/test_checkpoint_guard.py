"""mmakd's tools refuse a distillation checkpoint for a plain model; mmengine's
own loaders are left as they are."""
import copy

import pytest
import torch
from helpers import build_toy_distill
from mmengine.model import MMDistributedDataParallel
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner import load_checkpoint

from mmakd.utils.checkpoint_guard import (DistillationCheckpointError,
                                          check_checkpoint_file,
                                          check_not_distillation_checkpoint)


@pytest.fixture(scope='module')
def distill():
    return build_toy_distill(None)


@pytest.fixture
def kd_file(distill, tmp_path):
    path = tmp_path / 'kd.pth'
    torch.save(dict(state_dict=distill.state_dict()), path)
    return str(path)


def test_a_plain_model_refuses_a_distillation_checkpoint(distill, kd_file):
    student = copy.deepcopy(distill.architecture)
    before = copy.deepcopy(student.state_dict())
    with pytest.raises(DistillationCheckpointError) as error:
        check_checkpoint_file(student, kd_file)
    message = str(error.value)
    assert 'ToyNet is a plain model' in message
    assert 'export_student.py CONFIG CHECKPOINT --out DIR' in message
    for key, value in student.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_teacher_keys_alone_are_refused_too(distill):
    state = {
        k: v
        for k, v in distill.state_dict().items() if k.startswith('teacher.')
    }
    with pytest.raises(DistillationCheckpointError):
        check_not_distillation_checkpoint(distill.architecture, state)


def test_a_distillation_model_loads_it(distill, kd_file):
    load_checkpoint(copy.deepcopy(distill), kd_file, strict=True)


def test_a_wrapped_model_is_unwrapped():
    class Wrapper(MMDistributedDataParallel):

        def __init__(self, module):  # no process group needed here
            torch.nn.Module.__init__(self)
            self.module = module

    plain = Wrapper(torch.nn.Linear(2, 2))
    with pytest.raises(DistillationCheckpointError, match='Linear'):
        check_not_distillation_checkpoint(
            plain, {'architecture.weight': torch.zeros(2, 2)})


def test_other_checkpoints_pass(distill, tmp_path):
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'head.weight': torch.zeros(1)}), other)
    check_checkpoint_file(copy.deepcopy(distill.architecture), str(other))


def test_mmengines_loader_is_not_wrapped(distill, kd_file):
    """Importing mmakd changes nothing of mmengine's checkpoint loading."""
    assert not hasattr(mmengine_checkpoint.load_state_dict, '__wrapped__')
    load_checkpoint(copy.deepcopy(distill.architecture), kd_file)  # warns
