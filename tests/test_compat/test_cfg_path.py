"""``cfg_path`` sub-models from local config files.

MMRazor builds ``dict(cfg_path=..., pretrained=...)`` with
``mmengine.hub.get_model``, which takes ``'pkg::path'`` only;
:mod:`mmakd_compat.razor_cfg_path` points MMRazor's lookup at a
``get_model`` that also builds config files, relative to the working
directory or absolute. Every build here is a CPU-sized RetinaNet (ResNet-18
at 8 base channels) from a config of the test's own.
"""
import os.path as osp
import textwrap
import types
from pathlib import Path

import pytest
import torch
from helpers import run_python, skip_on_onedl_forks
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

from mmakd_compat import DISABLE_ENV, razor_cfg_path

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
    model = MODELS.build(dict(cfg_path=cfg_path, pretrained=False))
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
        MODELS.build(dict(cfg_path=missing, pretrained=False))
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
    built = MODELS.build(dict(cfg_path=name, pretrained=True, extra=1))
    assert built == 'built by mmengine'
    assert calls == [(name, True, {'extra': 1})]


# --------------------------------------------------------------- pretrained


@pytest.fixture
def checkpoint(project, monkeypatch) -> str:
    """A checkpoint of the student with recognisable weights."""
    monkeypatch.chdir(project)
    model = MODELS.build(dict(cfg_path=RELATIVE))
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
    _assert_loaded(MODELS.build(dict(cfg_path=str(config), pretrained=True)))


def test_pretrained_names_a_checkpoint(project, checkpoint):
    _assert_loaded(
        MODELS.build(dict(cfg_path=RELATIVE, pretrained=checkpoint)))


def test_pretrained_true_without_a_checkpoint_is_an_error(project,
                                                          monkeypatch):
    monkeypatch.chdir(project)
    with pytest.raises(ValueError, match='model_path'):
        MODELS.build(dict(cfg_path=RELATIVE, pretrained=True))


# ----------------------------------------------------- fresh interpreters

BUILD = ('import sys\n'
         'import mmrazor.models\n'
         'from mmrazor.registry import MODELS\n'
         'model = MODELS.build(dict(cfg_path=sys.argv[1], pretrained=False))\n'
         'print(type(model).__name__, '
         'model.data_preprocessor.mean.flatten().tolist(), '
         '[m for m in sys.modules if m.split(".")[0] == "mmakd"])')


def test_the_startup_hook_alone_builds_a_local_cfg_path(project):
    """As in MMRazor's tools/train.py: only ``mmrazor.models`` is imported,
    never mmakd."""
    proc = run_python(BUILD, RELATIVE, cwd=str(project))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == \
        'RetinaNet [1.0, 2.0, 3.0] []'


@skip_on_onedl_forks(
    'MMRazor 1.0.0 does not import at all before mmakd (its mmcv gate)')
def test_without_the_fix_mmrazor_refuses_a_local_cfg_path(project):
    """MMRazor's registry as shipped (the hook off, mmakd not imported)."""
    proc = run_python(
        'import sys\n'
        'from mmrazor.registry import MODELS\n'
        'MODELS.build(dict(cfg_path=sys.argv[1], pretrained=False))',
        RELATIVE,
        env={DISABLE_ENV: '1'},
        cwd=str(project))
    assert proc.returncode != 0
    assert 'please specify the package name' in proc.stderr


@skip_on_onedl_forks(
    'MMRazor 1.0.0 does not import at all before mmakd (its mmcv gate)')
def test_import_mmakd_fixes_an_imported_registry(project):
    """MMRazor's registry imported before mmakd, the hook off: ``import
    mmakd`` fixes the function MMRazor's registries already hold."""
    proc = run_python(
        'import sys\n'
        'from mmrazor.registry import MODELS\n'
        'import mmakd\n'
        'model = MODELS.build(dict(cfg_path=sys.argv[1]))\n'
        'print(type(model).__name__)',
        RELATIVE,
        env={DISABLE_ENV: '1'},
        cwd=str(project))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == 'RetinaNet'


# ------------------------------------------------------------- the fix


def test_the_fix_replaces_only_the_lookup():
    import mmrazor.registry.registry as registry
    function = registry.build_razor_model_from_cfg
    assert function is MODELS.build_func
    code = function.__code__
    assert razor_cfg_path.__name__ in code.co_names
    assert 'mmengine.hub' not in code.co_names
    razor_cfg_path.fix(registry)  # once only
    assert function.__code__ is code


def _module_from(path: Path, name: str) -> types.ModuleType:
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_changed_mmrazor_is_left_alone(tmp_path):
    """Without the lookup line (an MMRazor that changed it), nothing is
    changed."""
    source = tmp_path / 'changed_registry.py'
    source.write_text('def build_razor_model_from_cfg(cfg, registry, '
                      'default_args=None):\n'
                      '    from mmengine.hub import get_config\n'
                      '    return get_config\n')
    module = _module_from(source, 'changed_registry')
    code = module.build_razor_model_from_cfg.__code__
    razor_cfg_path.fix(module)
    assert module.build_razor_model_from_cfg.__code__ is code


def test_local_config_file_resolves_against_the_working_directory(
        project, monkeypatch):
    monkeypatch.chdir(project)
    assert razor_cfg_path.local_config_file(RELATIVE) == \
        osp.join(str(project), RELATIVE)
    assert not razor_cfg_path.is_package_name(RELATIVE)
    assert razor_cfg_path.is_package_name('mmdet::retinanet/x.py')
