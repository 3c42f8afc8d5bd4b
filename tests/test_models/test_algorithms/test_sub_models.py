"""``cfg_path`` sub-models from local config files, in mmakd's algorithms.

MMRazor builds ``dict(cfg_path=..., pretrained=...)`` with
``mmengine.hub.get_model``, which takes ``'pkg::path'`` only; mmakd's
algorithms build config files (relative to the working directory or
absolute) with :func:`~mmakd.models.algorithms.build_sub_model` before
MMRazor sees them, and MMRazor's own algorithms are left as they are. Every
build here is a CPU-sized RetinaNet (ResNet-18 at 8 base channels) from a
config of the test's own.
"""
import os.path as osp
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

from mmakd.models.algorithms import build_sub_model, sub_models

#: A tiny RetinaNet; the top-level data_preprocessor (distinct mean and
#: std) replaces the model's, as mmengine's get_model does.
STUDENT = textwrap.dedent("""\
    _base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
    default_scope = 'mmdet'
    data_preprocessor = dict(
        type='DetDataPreprocessor', mean=[1.0, 2.0, 3.0],
        std=[4.0, 5.0, 6.0], bgr_to_rgb=True, pad_size_divisor=32)
    model = dict(
        backbone=dict(depth=18, base_channels=8, init_cfg=None),
        neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
        bbox_head=dict(
            num_classes=3, in_channels=16, feat_channels=16,
            stacked_convs=1))
    """)
RELATIVE = 'my_project/configs/my_student.py'


@pytest.fixture
def project(tmp_path) -> Path:
    """A working directory with ``my_project/configs/my_student.py``."""
    path = tmp_path / RELATIVE
    path.parent.mkdir(parents=True)
    path.write_text(STUDENT)
    return tmp_path


def _check_student(model) -> None:
    assert type(model).__name__ == 'RetinaNet'
    assert type(model).__module__.startswith('mmdet.')
    assert model.backbone.depth == 18
    assert model.bbox_head.num_classes == 3
    assert model.data_preprocessor.mean.flatten().tolist() == [1.0, 2.0, 3.0]
    assert model.data_preprocessor.std.flatten().tolist() == [4.0, 5.0, 6.0]


@pytest.mark.parametrize('absolute', [False, True],
                         ids=['relative', 'absolute'])
def test_a_local_cfg_path_builds(project, monkeypatch, absolute):
    monkeypatch.chdir(project)
    cfg_path = str(project / RELATIVE) if absolute else RELATIVE
    model = build_sub_model(dict(cfg_path=cfg_path, pretrained=False))
    _check_student(model)
    assert not getattr(model, '_is_init', False)
    # Built in the config's scope; the caller's scope is left as it was.
    assert DefaultScope.get_current_instance().scope_name == 'mmrazor'


def test_local_cfg_paths_in_a_distillation(project, monkeypatch):
    """``architecture`` and ``teacher`` from config files, as MMRazor's
    distillation algorithms build them."""
    monkeypatch.chdir(project)
    model = MODELS.build(
        dict(
            _scope_='mmrazor',
            type='MMAKDSingleTeacherDistill',
            architecture=dict(cfg_path=RELATIVE, pretrained=False),
            teacher=dict(cfg_path=str(project / RELATIVE), pretrained=False),
            distiller=dict(type='ConfigurableDistiller')))
    _check_student(model.architecture)
    _check_student(model.teacher)
    assert model.teacher is not model.architecture


def test_a_missing_local_cfg_path_is_a_named_error(project, monkeypatch):
    monkeypatch.chdir(project)
    missing = 'my_project/configs/missing.py'
    with pytest.raises(FileNotFoundError) as error:
        build_sub_model(dict(cfg_path=missing, pretrained=False))
    message = str(error.value)
    assert f'cfg_path={missing!r}' in message
    assert str(project / missing) in message


def test_package_names_still_go_to_mmengine(monkeypatch):
    calls = []

    def get_model(cfg_path, pretrained=False, **kwargs):
        calls.append((cfg_path, pretrained, kwargs))
        return 'built by mmengine'

    monkeypatch.setattr('mmengine.hub.get_model', get_model)
    name = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
    cfg = dict(cfg_path=name, pretrained=True, extra=1)
    assert build_sub_model(cfg) is cfg  # left to MMRazor
    assert sub_models.get_model(name, True, extra=1) == 'built by mmengine'
    assert calls == [(name, True, {'extra': 1})]


# --------------------------------------------------------------- pretrained


@pytest.fixture
def checkpoint(project, monkeypatch) -> str:
    """A checkpoint of the student with recognisable weights."""
    monkeypatch.chdir(project)
    model = build_sub_model(dict(cfg_path=RELATIVE))
    with torch.no_grad():
        for i, param in enumerate(model.parameters()):
            param.fill_(i + 0.5)
    path = project / 'student.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def _assert_loaded(model) -> None:
    assert model._is_init  # a Runner's init_weights() keeps the weights
    for i, param in enumerate(model.parameters()):
        assert torch.all(param == i + 0.5)


def test_pretrained_true_loads_the_configs_model_path(project, checkpoint):
    config = project / 'with_weights.py'
    config.write_text(STUDENT + f'model_path = {checkpoint!r}\n')
    _assert_loaded(
        build_sub_model(dict(cfg_path=str(config), pretrained=True)))


def test_pretrained_names_a_checkpoint(project, checkpoint):
    _assert_loaded(
        build_sub_model(dict(cfg_path=RELATIVE, pretrained=checkpoint)))


def test_pretrained_true_without_a_checkpoint_is_an_error(project,
                                                          monkeypatch):
    monkeypatch.chdir(project)
    with pytest.raises(ValueError, match='model_path'):
        build_sub_model(dict(cfg_path=RELATIVE, pretrained=True))


def test_mmrazors_own_build_is_unchanged(project, monkeypatch):
    """MMRazor's registry still takes ``'pkg::path'`` only: mmakd changes
    its own algorithms, not MMRazor's build function."""
    monkeypatch.chdir(project)
    with pytest.raises(ValueError, match='package name'):
        MODELS.build(dict(cfg_path=RELATIVE, pretrained=False))


def test_local_config_file_resolves_against_the_working_directory(
        project, monkeypatch):
    monkeypatch.chdir(project)
    assert sub_models.local_config_file(RELATIVE) == \
        osp.join(str(project), RELATIVE)
    assert not sub_models.is_package_name(RELATIVE)
    assert sub_models.is_package_name('mmdet::retinanet/x.py')
