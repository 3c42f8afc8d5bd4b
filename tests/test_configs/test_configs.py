"""Every paper-scale recipe under ``configs/`` builds and trains one step.

For each config (all of ``configs/`` but ``_base_/``; the Digit Scenes
configs, in ``projects/digit_scenes/``, have their own tests): the config
loads, its model builds with every checkpoint and download disabled, and one
training step on a small generated batch gives finite losses, gradients in
the student and none in the teacher.
Each AKD config (``akd-<baseline>.py``) is checked to be its baseline with the
distiller's type swapped (plus AKD options that depart from the defaults, none
of which is restated), and its distiller, built, to have the baseline's losses
wrapped with the release's Avatar settings. The metafiles, model-index.yml and
the teachers' checkpoint URLs are checked against the configs and against
mmdet's and mmseg's own model-zoo metafiles.

The heavy models (ResNeXt-101 and Cascade teachers, PSPNet R101-d8, RTMDet-l
and -x, DeepLabV3+ R101-d8, SegFormer MiT-B5, YOLOX-l, Swin-L) are marked
``slow`` (``make test-slow``), except one recipe per base method and task that
stays in the default run: each base method is exercised there, as baseline and
as AKD.
"""
import ast
import functools
import inspect
import math
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import torch
import yaml
from helpers import (build_model, det_batch, grad_report, load_recipe,
                     seg_batch, train_step)
from mmengine.config import Config
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.registry import MODELS
from torch import nn

from mmakd.models import (AvatarDistiller, AvatarGenerator,
                          UncertaintyAwareKDLoss)
from mmakd.utils import disable_downloads, load_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
SKIPPED_DIRS = ('_base_', )
#: The base methods of the recipes, a folder each: those whose metafile
#: model-index.yml (OpenMMLab's index of the recipes) imports.
METHODS = tuple(
    sorted(
        Path(meta).parent.name for meta in yaml.safe_load(
            (REPO / 'model-index.yml').read_text())['Import']))
#: MasKD's stage 1 (receptive tokens on the teacher), not a distillation.
STAGE1_PREFIX = 'maskd-tokens_'

# The recipes the project promises; each has an ``akd-`` child.
EXPECTED_BASELINES = {
    'cwd/cwd_fpn_retina-x101_retina-r50_2x_coco.py',
    'cwd/cwd_fpn_retina-r101_retina-r50_2x_coco.py',
    'cwd/cwd_fpn_reppoints-x101-dcn_reppoints-r50_2x_coco.py',
    'cwd/cwd_logits_pspnet-r101-d8_pspnet-r18-d8_4xb2-80k_'
    'cityscapes-512x1024.py',
    'cwd/cwd_logits_pspnet-r101-d8_deeplabv3-r18-d8_4xb2-80k_'
    'cityscapes-512x1024.py',
    'fgd/fgd_fpn_retina-x101_retina-r50_2x_coco.py',
    'fgd/fgd_fpn_retina-r101_retina-r50_2x_coco.py',
    'fgd/fgd_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py',
    'mgd/mgd_fpn_retina-x101_retina-r50_2x_coco.py',
    'mgd/mgd_fpn_cascade-mask-rcnn-x101_faster-rcnn-r50_2x_coco.py',
    'mgd/mgd_layer4_pspnet-r101-d8_pspnet-r18-d8_4xb2-80k_'
    'cityscapes-512x1024.py',
    'mgd/mgd_layer4_pspnet-r101-d8_deeplabv3-r18-d8_4xb2-80k_'
    'cityscapes-512x1024.py',
    'pkd/pkd_fpn_retina-x101_retina-r50_2x_coco.py',
    'pkd/pkd_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py',
    'cwd/cwd_neck_rtmdet-s_rtmdet-tiny_8xb32-300e_coco.py',
    'cwd/cwd_neck_rtmdet-m_rtmdet-s_8xb32-300e_coco.py',
    'cwd/cwd_neck_rtmdet-l_rtmdet-m_8xb32-300e_coco.py',
    'cwd/cwd_neck_rtmdet-x_rtmdet-l_8xb32-300e_coco.py',
    'cwd/cwd_logits_deeplabv3plus-r101-d8_deeplabv3plus-r18-d8_4xb2-80k_'
    'cityscapes-512x1024.py',
    'cwd/cwd_logits_segformer-mit-b5_segformer-mit-b0_8xb1-160k_'
    'cityscapes-1024x1024.py',
    'cwd/cwd_neck_yolox-l_yolox-s_8xb8-300e_coco.py',
    'pkd/pkd_neck_dino-5scale-swin-l_dino-4scale-r50_8xb2-12e_coco.py',
    'maskd/maskd_fpn_retina-r101_retina-r50_2x_coco.py',
    'maskd/maskd_fpn_retina-x101_retina-r50_2x_coco.py',
    'maskd/maskd_fpn_fcos-r101_fcos-r50_2x_coco.py',
    'maskd/maskd_fpn_reppoints-x101-dcn_reppoints-r50_2x_coco.py',
}
# MasKD's stage-1 configs, one per MasKD teacher.
EXPECTED_STAGE1 = {
    f'maskd/{STAGE1_PREFIX}fpn_{teacher}_2000i_coco.py'
    for teacher in ('retina-r101', 'retina-x101', 'fcos-r101',
                    'reppoints-x101-dcn')
}

# Heavy teachers or students: slow unless kept below for coverage.
HEAVY = ('x101', 'cascade', 'pspnet-r101', 'rtmdet-x', 'rtmdet-l',
         'deeplabv3plus-r101', 'mit-b5', 'yolox-l', 'swin-l')
# One recipe per base method and task stays in the default run (measured on
# 2 CPU cores: 1-3 s each at the input sizes below).
KEPT_IN_DEFAULT_RUN = {
    'mgd_fpn_retina-x101_retina-r50_2x_coco',
    'cwd_logits_pspnet-r101-d8_pspnet-r18-d8_4xb2-80k_cityscapes-512x1024',
    'mgd_layer4_pspnet-r101-d8_pspnet-r18-d8_4xb2-80k_cityscapes-512x1024',
}
# What an AKD child may change in its baseline's distiller.
AKD_OPTIONS = ('type', 'avatar_generator', 'uncertainty', 'uncertainty_eps',
               'exclude_losses', 'log_stats')
# The AKD release's Avatars (Gumpest/AvatarKD) and the paper's factor: what
# every AKD child builds, through AvatarDistiller's defaults.
RELEASE_AVATARS = dict(
    num_avatars=1, perturbation=dict(type='ElementDropout', p=0.1))
RELEASE_UNCERTAINTY = 'paper'
# Any attempt to open a connection fails the test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures('no_network')


def _all_configs() -> List[Path]:
    """Every distillation recipe."""
    return [p for p in _config_files() if not p.name.startswith(STAGE1_PREFIX)]


def _config_files() -> List[Path]:
    return sorted(
        p for p in CONFIGS.glob('**/*.py')
        if not any(d in p.relative_to(CONFIGS).parts for d in SKIPPED_DIRS))


def _stage1_configs() -> List[Path]:
    return [p for p in _config_files() if p.name.startswith(STAGE1_PREFIX)]


def _rel(path: Path) -> str:
    return path.relative_to(CONFIGS).as_posix()


def _baseline_stem(path: Path) -> str:
    return path.stem[len('akd-'):] if path.stem.startswith('akd-') \
        else path.stem


def _is_slow(path: Path) -> bool:
    stem = _baseline_stem(path)
    return stem not in KEPT_IN_DEFAULT_RUN and any(h in stem for h in HEAVY)


def _param(path: Path):
    marks = [pytest.mark.slow] if _is_slow(path) else []
    return pytest.param(path, id=_rel(path), marks=marks)


def _pairs() -> List[Tuple[Path, Path]]:
    return [(p.with_name(p.name[len('akd-'):]), p) for p in _all_configs()
            if p.name.startswith('akd-')]


@pytest.fixture(autouse=True)
def no_init_bookkeeping(monkeypatch):
    """Skips mmengine's record of which initialiser set each parameter.

    After every initialiser, mmengine takes the mean of every parameter of
    the module to see which ones changed, only to log it: 80% of the time of
    ``init_weights()`` on a ResNet-101 on 2 CPU cores. The weights are
    initialised exactly as without this fixture.
    """
    from mmengine.model import base_module, weight_init
    for module in (base_module, weight_init):
        monkeypatch.setattr(module, 'update_init_info', lambda *a, **k: None)


@pytest.fixture
def runner_iter():
    """The MessageHub's ``'iter'`` at 0, as mmengine's ``RuntimeInfoHook``
    sets it before every training iteration (YOLOX's
    ``BatchSyncRandomResize`` reads it); the previous state is restored."""
    from mmengine.logging import MessageHub
    info = MessageHub.get_current_instance().runtime_info
    missing = object()
    before = info.get('iter', missing)
    info['iter'] = 0
    yield
    if before is missing:
        info.pop('iter', None)
    else:
        info['iter'] = before


# ------------------------------------------------------------- the recipes


def test_every_promised_recipe_has_a_baseline_and_an_akd_child():
    found = {_rel(p) for p in _all_configs()}
    for baseline in sorted(EXPECTED_BASELINES):
        folder, name = baseline.split('/')
        assert baseline in found, f'missing recipe configs/{baseline}'
        assert f'{folder}/akd-{name}' in found, \
            f'missing AKD child configs/{folder}/akd-{name}'
    assert {_rel(p) for p in _stage1_configs()} == EXPECTED_STAGE1
    for path in _all_configs():
        assert path.parent.name in METHODS, f'{_rel(path)}: unknown folder'
        if path.name.startswith('akd-'):
            assert path.with_name(path.name[len('akd-'):]).is_file(), \
                f'{_rel(path)} has no baseline beside it'


def _train_batch(path: Path, model) -> Dict[str, Any]:
    if 'cityscapes' in path.name:
        return seg_batch(model, size=(64, 64))
    # mmcv's deformable convolutions (RepPoints X101-DCN) need > 64 pixels.
    size = (128, 128) if 'reppoints' in path.name else (64, 64)
    if 'dino' in path.name:
        # DINO picks its 900 queries among the encoder's tokens (top-k):
        # 224x224 gives the 4-scale student 28^2 + 14^2 + 7^2 + 4^2 = 1045
        # (64x64: 85). About 20 s and 4 GB for the step on one CPU thread.
        size = (224, 224)
    return det_batch(model, size=size)


#: The recipes whose originals initialise the student's neck and heads from
#: the teacher (FGD/MGD's ``init_student``, MasKD's and the AKD release's
#: RetinaNet and RepPoints configs), with the modules they inherit.
INHERITING = {
    'cwd/cwd_fpn_reppoints-x101-dcn_reppoints-r50_2x_coco.py':
    ['neck', 'bbox_head'],
    'fgd/fgd_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py':
    ['neck', 'rpn_head', 'roi_head'],
    'fgd/fgd_fpn_retina-r101_retina-r50_2x_coco.py': ['neck', 'bbox_head'],
    'fgd/fgd_fpn_retina-x101_retina-r50_2x_coco.py': ['neck', 'bbox_head'],
    'maskd/maskd_fpn_retina-r101_retina-r50_2x_coco.py':
    ['neck', 'bbox_head'],
    'maskd/maskd_fpn_retina-x101_retina-r50_2x_coco.py':
    ['neck', 'bbox_head'],
    'mgd/mgd_fpn_retina-x101_retina-r50_2x_coco.py': ['neck', 'bbox_head'],
}


def _pretrained_prefixes(model: dict) -> List[str]:
    """The student modules an ``init_cfg=dict(type='Pretrained',
    prefix=...)`` loads from a checkpoint."""
    return [
        name for name, part in model.items() if isinstance(part, dict)
        and isinstance(part.get('init_cfg'), dict)
        and part['init_cfg'].get('type') == 'Pretrained'
        and part['init_cfg'].get('prefix')
    ]


@pytest.mark.parametrize('path', [_param(p) for p in _all_configs()])
def test_inheriting_is_the_inherit_option(path):
    """The recipes of :data:`INHERITING` and their AKD children inherit
    by ``inherit`` (logged, read from the loaded teacher), none by a
    ``Pretrained`` ``init_cfg`` (a second read of the checkpoint)."""
    cfg = load_config(str(path))
    baseline = _rel(path).replace('/akd-', '/')
    assert cfg.model.get('inherit') == INHERITING.get(baseline)
    assert _pretrained_prefixes(cfg.model.architecture) == []


@pytest.mark.parametrize('path', [_param(p) for p in _all_configs()])
def test_recipe_builds_and_trains_one_step(path, runner_iter):
    torch.manual_seed(0)
    cfg = load_recipe(str(path))
    is_akd = path.name.startswith('akd-')
    num_losses = len(cfg.model.distiller.distill_losses)
    model = build_model(cfg)
    losses = train_step(model, _train_batch(path, model))

    for name, value in losses.items():
        assert torch.isfinite(value).all(), f'{name} = {value}'
    distill = [k for k in losses if k.startswith('distill.loss')]
    assert len(distill) == num_losses, distill
    assert any(k.startswith('student.') for k in losses)

    # The teacher is a frozen target; the student (and every parameter of
    # the connectors and losses) learns.
    assert all(p.grad is None for p in model.teacher.parameters())
    with_grad, trainable = grad_report(model.student)
    assert with_grad > 0.5 * trainable, (with_grad, trainable)
    for part in (model.distiller.connectors, model.distiller.distill_losses):
        with_grad, trainable = grad_report(part)
        assert with_grad == trainable, (with_grad, trainable)

    # Recipes that start the student's neck and head from the teacher
    # (`inherit`): every tensor of those modules fits the teacher's.
    if cfg.model.get('inherit'):
        assert model.inherit_plan.copied and not model.inherit_plan.skipped

    wrapped = [
        m for m in model.distiller.distill_losses.values()
        if isinstance(m, UncertaintyAwareKDLoss)
    ]
    if is_akd:
        assert isinstance(model.distiller, AvatarDistiller)
        # Every loss reads the teacher; all but the excluded get Avatars.
        excluded = cfg.model.distiller.get('exclude_losses') or []
        assert len(wrapped) == num_losses - len(excluded)
        assert model.distiller.avatar_generator.num_avatars == 1
    else:
        assert type(model.distiller).__name__ == 'ConfigurableDistiller'
        assert not wrapped


@pytest.mark.parametrize('path', [_param(p) for p in _stage1_configs()])
def test_stage1_builds_and_trains_only_the_tokens(path):
    """MasKD stage 1: one step on the frozen teacher; the tokens of each
    of the 5 levels get a gradient, the teacher none."""
    torch.manual_seed(0)
    model = build_model(load_recipe(str(path)))
    losses = train_step(model, _train_batch(path, model))
    assert {f'loss_diversity_{i}' for i in range(5)} <= losses.keys()
    for name, value in losses.items():
        assert torch.isfinite(value).all(), f'{name} = {value}'
    assert all(p.grad is None for p in model.architecture.parameters())
    with_grad, trainable = grad_report(model.mask_modules)
    assert with_grad == trainable == 5 * 5  # token + 2 convs x 2 each


# ------------------------------------------------- AKD child = baseline + AKD


def _diff(a: Any, b: Any, path: str = '') -> List[str]:
    """Dotted paths where two plain config structures differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f'{path}.{key}' if path else str(key)
            if key not in a or key not in b:
                out.append(sub)
            else:
                out += _diff(a[key], b[key], sub)
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) \
            and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b))
                for d in _diff(x, y, f'{path}[{i}]')]
    return [] if a == b else [path]


def _defaults(cls) -> Dict[str, Any]:
    return {
        name: p.default
        for name, p in inspect.signature(cls).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _restated_defaults(options: Dict[str, Any]) -> List[str]:
    """The AKD options of a distiller config that repeat a default."""
    restated = []
    distiller_defaults = _defaults(AvatarDistiller)
    generator_defaults = _defaults(AvatarGenerator)
    for key, value in options.items():
        if key == 'avatar_generator' and isinstance(value, dict):
            restated += [
                f'avatar_generator.{k}' for k, v in value.items()
                if k in generator_defaults and generator_defaults[k] == v
            ]
        elif key in distiller_defaults:
            default = distiller_defaults[key]
            if isinstance(default, tuple):
                default, value = list(default), list(value)
            if default == value:
                restated.append(key)
    return restated


def _akd_pairs():
    return [pytest.param(b, a, id=_rel(a)) for b, a in _pairs()]


@pytest.mark.parametrize('baseline,akd', _akd_pairs())
def test_akd_child_is_its_baseline_plus_avatars(baseline, akd):
    # The child file itself: `_base_` (its baseline and AKD's hooks),
    # `model` and `custom_hooks`, nothing else; `custom_imports` comes with
    # the baseline.
    tree = ast.parse(akd.read_text())
    names = [t.id for node in tree.body if isinstance(node, ast.Assign)
             for t in node.targets]
    assert sorted(names) == ['_base_', 'custom_hooks', 'model'], names

    base_cfg = Config.fromfile(str(baseline)).to_dict()
    akd_cfg = Config.fromfile(str(akd)).to_dict()
    # AKD's hooks after the baseline's own (configs/_base_/akd.py).
    akd_hooks = Config.fromfile(str(CONFIGS / '_base_' / 'akd.py')).akd_hooks
    assert akd_cfg.pop('custom_hooks') == base_cfg.pop(
        'custom_hooks', []) + akd_hooks
    akd_cfg.pop('akd_hooks')
    allowed = {f'model.distiller.{k}' for k in AKD_OPTIONS}
    differences = _diff(base_cfg, akd_cfg)
    unexpected = [
        d for d in differences
        if not any(d == a or d.startswith(a + '.') or d.startswith(a + '[')
                   for a in allowed)
    ]
    assert not unexpected, f'{akd.name} differs from {baseline.name} in ' \
        f'{unexpected}'
    assert base_cfg['model']['distiller']['type'] == 'ConfigurableDistiller'
    distiller = akd_cfg['model']['distiller']
    assert distiller['type'] == 'AvatarDistiller'
    options = {k: distiller[k] for k in AKD_OPTIONS
               if k != 'type' and k in distiller}
    assert not _restated_defaults(options), \
        f'{akd.name} restates AvatarDistiller defaults: ' \
        f'{_restated_defaults(options)}'
    assert 'mmakd' in akd_cfg['custom_imports']['imports']


def _build_distiller(path: Path) -> nn.Module:
    """The distiller of a recipe, built alone (no student, teacher or
    checkpoint): what the Runner builds from ``model.distiller``."""
    cfg = Config.fromfile(str(path))
    return MODELS.build(disable_downloads(cfg.model.distiller))


@pytest.mark.parametrize('baseline,akd', _akd_pairs())
def test_akd_child_builds_the_release_avatars(baseline, akd):
    """The built AKD distiller: the baseline's losses, each reading the
    teacher through Avatars with the release's settings (1 Avatar,
    element-wise dropout p = 0.1, the paper's uncertainty factor)."""
    base = _build_distiller(baseline)
    distiller = _build_distiller(akd)
    assert type(base) is ConfigurableDistiller
    assert type(distiller) is AvatarDistiller

    generator = distiller.avatar_generator
    assert generator.num_avatars == RELEASE_AVATARS['num_avatars']
    release = RELEASE_AVATARS['perturbation']
    assert [(type(p).__name__, p.p) for p in generator.perturbations] == \
        [(release['type'], release['p'])]

    # Same losses, recorders and connectors as the baseline; every loss
    # reads the teacher, so every one not excluded is wrapped, with the
    # paper's factor unless the child names another.
    options = Config.fromfile(str(akd)).model.distiller
    excluded = options.get('exclude_losses') or []
    uncertainty = options.get('uncertainty', RELEASE_UNCERTAINTY)
    assert list(distiller.distill_losses) == list(base.distill_losses)
    for name, loss in distiller.distill_losses.items():
        if name in excluded:
            assert type(loss) is type(base.distill_losses[name]), name
            continue
        assert isinstance(loss, UncertaintyAwareKDLoss), name
        assert type(loss.base_loss) is type(base.distill_losses[name]), name
        assert loss.uncertainty == uncertainty, name
    for attr in ('student_recorders', 'teacher_recorders'):
        assert set(getattr(distiller, attr).recorders) == \
            set(getattr(base, attr).recorders), attr
    for attr in ('connectors', 'loss_forward_mappings'):
        assert set(getattr(distiller, attr)) == set(getattr(base, attr)), \
            attr


# ------------------------------------------- teachers, metafiles, model index


@functools.lru_cache()
def _zoo_metafiles() -> Tuple[Tuple[str, str, str], ...]:
    """(package, metafile path, text) of mmdet's and mmseg's metafiles."""
    import mmdet
    import mmseg
    found = []
    for pkg in (mmdet, mmseg):
        root = Path(pkg.__file__).parent / '.mim' / 'configs'
        for meta in sorted(root.glob('*/metafile.y*ml')):
            found.append((pkg.__name__, str(meta), meta.read_text()))
    return tuple(found)


#: Where OpenMMLab's model zoo is served: its own host, and the mirror that
#: the ONEDL forks' metafiles name instead (the same paths).
ZOO_HOSTS = ('https://download.openmmlab.com/', 'https://mmassets.onedl.ai/')


def _zoo_path(url: str) -> str:
    """``url`` without its model-zoo host."""
    for host in ZOO_HOSTS:
        if url.startswith(host):
            return url[len(host):]
    return url


def _zoo_config_of(url: str) -> List[str]:
    """'pkg::config' of every mmdet/mmseg model-zoo entry with ``url`` (on
    either model-zoo host)."""
    configs = []
    path = _zoo_path(url)
    for pkg, _, text in _zoo_metafiles():
        if path not in text:
            continue
        data = yaml.safe_load(text)
        models = data.get('Models') if isinstance(data, dict) else data
        for model in models or []:
            if _zoo_path(model.get('Weights') or '') == path:
                configs.append(
                    f"{pkg}::{model['Config'].split('configs/', 1)[1]}")
    return configs


@pytest.mark.parametrize(
    'path', [pytest.param(b, id=_rel(b)) for b, _ in _pairs()] +
    [pytest.param(p, id=_rel(p)) for p in _stage1_configs()])
def test_teacher_is_a_published_model_zoo_checkpoint(path):
    """`teacher_ckpt` is the mmdet/mmseg checkpoint of the teacher's config.

    mmakd loads teachers strictly: a checkpoint of another architecture
    stops training, so the pair must match here already.
    """
    cfg = Config.fromfile(str(path))
    url, teacher = cfg.model.teacher_ckpt, cfg.model.teacher
    assert url.startswith('https://download.openmmlab.com/'), url
    assert cfg.get('teacher_ckpt', url) == url  # one URL per file
    zoo_configs = _zoo_config_of(url)
    assert zoo_configs, f'{url} is in no mmdet/mmseg metafile'
    assert teacher.cfg_path in zoo_configs, \
        f'teacher config {teacher.cfg_path}, checkpoint of {zoo_configs}'
    assert not teacher.get('pretrained'), \
        'teacher_ckpt supplies the teacher: pretrained=True downloads twice'


def _metafile_models() -> Dict[str, Dict[str, Any]]:
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    models = {}
    for meta in index['Import']:
        for model in yaml.safe_load((REPO / meta).read_text())['Models']:
            models[model['Config']] = model
    return models


def test_model_index_imports_every_metafile():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert sorted(index['Import']) == sorted(
        f'configs/{m}/metafile.yml' for m in METHODS)
    for meta in index['Import']:
        assert (REPO / meta).is_file(), meta


def test_metafiles_describe_every_config():
    models = _metafile_models()
    configs = {f'configs/{_rel(p)}' for p in _all_configs()}
    assert set(models) == configs
    for config, model in models.items():
        path = REPO / config
        assert model['Name'] == path.stem
        folder = path.parent.name.upper()
        assert model['In Collection'] == (
            f'AKD-{folder}' if path.stem.startswith('akd-') else folder)
        cfg = Config.fromfile(str(path))
        meta = model['Metadata']
        assert meta['Teacher']['Weights'] == cfg.model.teacher_ckpt
        assert meta['Teacher']['Config'] == cfg.model.teacher.cfg_path
        for result in model['Results']:
            metric = 'mIoU' if 'cityscapes' in path.name else 'box AP'
            values = result['Metrics']
            assert set(values) <= {metric}
            # A number is always a published one, with its source; nothing
            # here has been reproduced yet.
            assert result['Published']
            assert result['Reproduced'].startswith('no')
            for value in values.values():
                assert isinstance(value, float) and not math.isnan(value)


def _reproduced_cells(readme: str) -> List[str]:
    """Cells of the "mmakd (reproduced)" column of every Markdown table."""
    cells, column = [], None
    for line in readme.splitlines():
        if not line.startswith('|'):
            column = None
            continue
        row = [c.strip() for c in line.strip().strip('|').split('|')]
        if column is None:
            column = row.index('mmakd (reproduced)') \
                if 'mmakd (reproduced)' in row else -1
        elif column >= 0 and not set(''.join(row)) <= set('-: '):
            cells.append(row[column])
    return cells


#: A reproduced number with its source: ``41.2 ([log](path/in/the/repo))``.
SOURCED_NUMBER = re.compile(r'^(\d+(?:\.\d+)?) \(\[[^\]]+\]\(([^)]+)\)\)$')


def sourced_number_problem(cell: str, readme_dir: Path) -> Optional[str]:
    """Why a "reproduced" cell is not acceptable, or None if it is.

    A cell is '\u2014' (not reproduced), or a number followed by a link to
    the log or results file that measured it: a file in the repository
    that contains that number.
    """
    if cell == '\u2014':
        return None
    match = SOURCED_NUMBER.match(cell)
    if match is None:
        return f'{cell!r}: expected \u2014 or "<number> ([log](<file>))"'
    number, link = match.groups()
    source = (readme_dir / link).resolve()
    if not source.is_file():
        return f'{cell!r}: {link} is not a file in the repository'
    if number not in source.read_text(errors='replace'):
        return f'{cell!r}: {link} does not contain {number}'
    return None


@pytest.mark.parametrize('cell,problem', [
    ('\u2014', None),
    ('40.1', 'expected'),
    ('40.1 ([log](missing.log))', 'is not a file'),
    ('40.1 ([log](README.md))', 'does not contain 40.1'),
])
def test_a_reproduced_number_needs_its_source(cell, problem):
    found = sourced_number_problem(cell, CONFIGS / 'cwd')
    assert found is None if problem is None else problem in found


def test_a_reproduced_number_in_its_source_is_accepted(tmp_path):
    (tmp_path / 'run.log').write_text('bbox_mAP: 40.1')
    assert sourced_number_problem('40.1 ([log](run.log))', tmp_path) is None


def test_readmes_list_every_config_and_no_unmeasured_number():
    for method in METHODS:
        readme = (CONFIGS / method / 'README.md').read_text()
        for path in (CONFIGS / method).glob('*.py'):
            assert path.name in readme, f'{method}/README.md: {path.name}'
        cells = _reproduced_cells(readme)  # stage-1 configs included
        assert len(cells) == len(list((CONFIGS / method).glob('*.py')))
        problems = [
            sourced_number_problem(c, CONFIGS / method) for c in cells
        ]
        assert not any(problems), problems
    overview = (CONFIGS / 'README.md').read_text()
    for path in _all_configs():
        assert _rel(path) in overview, f'configs/README.md: {_rel(path)}'


def test_readme_recipe_table_links_every_method():
    """README.md's table of recipe families has a row per method folder."""
    readme = (REPO / 'README.md').read_text()
    for method in METHODS:
        assert f'](configs/{method}/README.md)' in readme, method
