"""Reusable test helpers: build OpenMMLab recipes without weights, run a step.

Two kinds of models are covered. ``toy_config()`` loads a tiny distillation
(``tests/data/toy_kd.py``) that mmengine's Runner trains in seconds. Every
test that needs a real MMRazor/mmakd recipe on this machine (no network,
no datasets, CPU only) goes through the same four steps::

    cfg = load_recipe('mmrazor::distill/mmdet/cwd/'
                      'cwd_fpn_retina_r101_retina_r50_1x_coco.py')
    model = build_model(cfg)            # no checkpoint is fetched
    data = det_batch(model, size=(64, 64))
    losses = train_step(model, data)    # loss tensors, gradients kept

:func:`load_recipe` loads a config (a path or an ``'pkg::path'`` name), turns
every ``cfg_path`` sub-model into the full model config it names and then calls
:func:`disable_downloads`, so that building the model and calling its
``init_weights()`` can never reach for a checkpoint.
"""
import copy
import logging
import os
import os.path as osp
import socket
import subprocess
import sys
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.structures import PixelData
from torch import nn

import mmakd  # noqa: F401  (compat fixes, strict teacher registration)
from mmakd.utils import disable_downloads, load_config, resolve_cfg_paths
from mmakd_compat import onedl_forks

_Size = Tuple[int, int]

#: The repository root (where ``tools/`` and ``configs/`` are).
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: ``tests/data``: tiny configs and ``mmakd_toys`` (generated data, ToyNet).
TESTS_DATA = osp.join(osp.dirname(osp.abspath(__file__)), 'data')
#: A tiny SingleTeacherDistill config that trains in seconds on CPU.
TOY_KD_CONFIG = osp.join(TESTS_DATA, 'toy_kd.py')
#: Whether this environment has the ONEDL forks of OpenMMLab's packages
#: (``make test-onedl``) instead of OpenMMLab's own.
ON_ONEDL_FORKS = onedl_forks.active()


def skip_on_onedl_forks(reason: str):
    """Skips a test on the ONEDL forks, for an upstream difference.

    Args:
        reason: What the forks do differently, said in the skip.
    """
    import pytest
    return pytest.mark.skipif(
        ON_ONEDL_FORKS, reason=f'upstream difference on the ONEDL forks: '
        f'{reason}')


#: MMRazor's ChannelWiseDivergence at temperature 1, the tests' base loss.
CWD = dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=1.0)


def toy_config(**overrides: Any) -> Config:
    """Loads ``tests/data/toy_kd.py`` (ToyNet 16 -> 4 channels, KL on logits).

    ``tests/data`` is put on ``sys.path`` so that its
    ``custom_imports=['mmakd', 'mmakd_toys']`` resolve in this process; a
    subprocess needs it on ``PYTHONPATH``.

    Args:
        **overrides: Dotted keys merged with ``Config.merge_from_dict``, e.g.
            ``**{'train_cfg.max_iters': 2}``.
    """
    if TESTS_DATA not in sys.path:
        sys.path.insert(0, TESTS_DATA)
    cfg = Config.fromfile(TOY_KD_CONFIG)
    if overrides:
        cfg.merge_from_dict(overrides)
    return cfg


def toy_akd_train_config(work_dir: str, hooks: Sequence[Dict] = (),
                         **overrides: Any) -> Config:
    """:func:`toy_config` with ``AvatarDistiller``, ``hooks`` as its
    ``custom_hooks`` and no validation or test, for a Runner in this
    process (``Runner.from_cfg(cfg).train()``)."""
    cfg = toy_config(**overrides)
    cfg.model.distiller.update(type='AvatarDistiller')
    cfg.work_dir = work_dir
    cfg.experiment_name = uuid.uuid4().hex
    cfg.log_level = 'WARNING'
    for part in ('val', 'test'):
        cfg[f'{part}_dataloader'] = cfg[f'{part}_cfg'] = None
        cfg[f'{part}_evaluator'] = None
    cfg.train_cfg.pop('val_interval')
    cfg.custom_hooks = list(hooks)
    return cfg


def load_recipe(name: str, **overrides: Any) -> Config:
    """Loads a recipe ready to build on a machine without weights.

    Args:
        name: A config path, or a name such as
            ``'mmrazor::distill/mmdet/cwd/<recipe>.py'``.
        **overrides: Dotted keys merged last with ``Config.merge_from_dict``,
            after ``cfg_path`` sub-models are expanded, e.g.
            ``**{'model.architecture.data_preprocessor.size': (64, 64)}``.

    Returns:
        Config: ``cfg.model`` has no ``cfg_path`` and loads no checkpoint.
    """
    cfg = load_config(name)
    cfg.model = resolve_cfg_paths(cfg.model)
    disable_downloads(cfg)
    if overrides:
        cfg.merge_from_dict(overrides)
    return cfg


def build_model(cfg: Union[Config, Dict]) -> nn.Module:
    """Builds ``cfg.model`` in its scope and initialises its weights.

    The model is built from MMRazor's registry (which mmakd's components and
    MMRazor's algorithms live in, and which falls back to mmengine's). The
    config's ``default_scope`` applies unless the model has its own
    ``_scope_``. ``init_weights()`` is called, as a Runner would, so a
    config that still asks for a checkpoint fails here, not in training.

    Args:
        cfg: A full config (with ``model``) or a model config.

    Returns:
        nn.Module: The model, in train mode.
    """
    from mmengine.registry import DefaultScope
    from mmrazor.registry import MODELS
    model_cfg = copy.deepcopy(cfg['model'] if 'model' in cfg else cfg)
    scope = cfg.get('default_scope', 'mmrazor') if 'model' in cfg \
        else 'mmrazor'
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    model.train()  # MMRazor's distill algorithms return None from train()
    return model


def _num_classes(model: Optional[nn.Module], default: int) -> int:
    """The largest ``num_classes`` of the model's heads, else ``default``.

    The largest, because a two-stage detector's RPN head has one class.
    """
    found = [
        m.num_classes for m in (model.modules() if model is not None else ())
        if isinstance(getattr(m, 'num_classes', None), int)
    ]
    return max(found, default=default)


def det_batch(model: Optional[nn.Module] = None,
              batch_size: int = 2,
              size: _Size = (64, 64),
              num_classes: Optional[int] = None,
              num_boxes: int = 3,
              with_mask: bool = False) -> Dict[str, List[Any]]:
    """Generates a detection batch as a dataloader would give it.

    Args:
        model: The model that will take the batch (its heads give the
            number of classes), or None.
        batch_size: Number of images.
        size: (height, width) of every image.
        num_classes: Labels are drawn from ``range(num_classes)``. Defaults
            to the model's number of classes, or 80 (COCO) without a model.
        num_boxes: Ground-truth boxes per image.
        with_mask: Also generate instance masks.

    Returns:
        dict: ``inputs`` (uint8 CHW tensors) and ``data_samples``
        (``DetDataSample`` with ``gt_instances``), the input of
        ``model.data_preprocessor`` / ``model.train_step``.
    """
    from mmdet.testing import demo_mm_inputs
    h, w = size
    return demo_mm_inputs(
        batch_size=batch_size,
        image_shapes=[(3, h, w)] * batch_size,
        num_items=[num_boxes] * batch_size,
        num_classes=num_classes or _num_classes(model, 80),
        with_mask=with_mask)


def seg_batch(model: Optional[nn.Module] = None,
              batch_size: int = 2,
              size: _Size = (64, 64),
              num_classes: Optional[int] = None,
              seed: int = 0) -> Dict[str, List[Any]]:
    """Generates a semantic segmentation batch as a dataloader would give it.

    mmseg's ``SegDataPreProcessor`` pads every image to its ``size`` (the
    crop size, 512x1024 for Cityscapes). When ``model`` is given, its
    preprocessor's ``size`` is set to ``size`` so the batch stays small.

    Args:
        model: The model that will take the batch, or None.
        batch_size: Number of images.
        size: (height, width) of every image and label map.
        num_classes: Labels are drawn from ``range(num_classes)``. Defaults
            to the model's number of classes, or 19 (Cityscapes) without a
            model.
        seed: Seed of the generator.

    Returns:
        dict: ``inputs`` (uint8 CHW tensors) and ``data_samples``
        (``SegDataSample`` with ``gt_sem_seg``).
    """
    from mmseg.structures import SegDataSample
    if model is not None and hasattr(model.data_preprocessor, 'size'):
        model.data_preprocessor.size = tuple(size)
    num_classes = num_classes or _num_classes(model, 19)
    gen = torch.Generator().manual_seed(seed)
    h, w = size
    inputs, samples = [], []
    for i in range(batch_size):
        inputs.append(
            torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8))
        sample = SegDataSample(
            metainfo=dict(
                img_path=f'img_{i}.png',
                ori_shape=(h, w),
                img_shape=(h, w),
                pad_shape=(h, w),
                scale_factor=(1.0, 1.0),
                flip=False,
                flip_direction=None))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, h, w), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def train_step(model: nn.Module,
               data: Dict[str, Sequence[Any]]) -> Dict[str, torch.Tensor]:
    """One training forward and backward pass, gradients left in place.

    Does what ``BaseModel.train_step`` does up to ``backward()`` (preprocess,
    ``mode='loss'``, ``parse_losses``) but takes no optimizer step and does
    not zero the gradients, so a test can inspect them.

    Args:
        model: A model in train mode.
        data: A batch from :func:`det_batch`, :func:`seg_batch` or a
            dataloader.

    Returns:
        dict: Every loss term (scalar tensors, each already summed as
        ``parse_losses`` does) plus ``'loss'``, their total.
    """
    model.zero_grad(set_to_none=True)
    batch = model.data_preprocessor(data, True)
    raw = model(**batch, mode='loss')
    total, _ = model.parse_losses(raw)
    total.backward()
    losses = {
        k: (sum(v) if isinstance(v, (list, tuple)) else v).detach()
        for k, v in raw.items() if 'loss' in k
    }
    losses['loss'] = total.detach()
    return losses


def grad_report(module: nn.Module) -> Tuple[int, int]:
    """Counts (params with a gradient, trainable params) of ``module``."""
    params = [p for p in module.parameters() if p.requires_grad]
    return sum(p.grad is not None for p in params), len(params)


def run_python(code: str,
               *args: str,
               env: Optional[Dict[str, str]] = None,
               timeout: float = 300,
               cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    """Runs ``python -c code *args`` in a fresh interpreter at the repo root.

    A fresh interpreter is what makes import-order tests honest: nothing
    this test process imported can mask a failure.

    Args:
        code: Python source passed to ``python -c``.
        *args: Extra ``sys.argv`` entries for the code.
        env: Extra environment variables (added to this process's; a
            ``PYTHONPATH`` here is put before the inherited one).
        timeout: Seconds before the run is killed (and the test fails).
        cwd: The working directory, the repository root by default. Python
            puts it first on ``sys.path`` (``-c``).

    Returns:
        CompletedProcess: with ``stdout`` and ``stderr`` as text.
    """
    full_env = {**os.environ, **(env or {})}
    if env and 'PYTHONPATH' in env and os.environ.get('PYTHONPATH'):
        full_env['PYTHONPATH'] = os.pathsep.join(
            [env['PYTHONPATH'], os.environ['PYTHONPATH']])
    return subprocess.run([sys.executable, '-c', code, *args],
                          cwd=str(cwd or REPO_ROOT),
                          env=full_env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)


#: What a copy of the checkout leaves out to build a wheel: setuptools
#: leaves ``build/`` where it builds, and the rest is not packaged.
_NOT_BUILT = ('.git', 'tests', 'work_dirs', 'data', 'outputs', 'build',
              '.benchmarks', '*.egg-info', '__pycache__', '.mim')


def build_wheel(dest: Union[str, os.PathLike]) -> str:
    """Builds mmakd's wheel as ``pip wheel`` does, from a copy of the
    checkout (offline: no build isolation, no index).

    Args:
        dest: An empty folder; the copy goes to ``dest/src``, the wheel to
            ``dest``.

    Returns:
        str: The path of the wheel.
    """
    import glob
    import shutil
    src = osp.join(str(dest), 'src')
    shutil.copytree(
        REPO_ROOT, src, ignore=shutil.ignore_patterns(*_NOT_BUILT))
    proc = subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '--no-index', '-q', '-w',
        str(dest), src
    ],
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel, = glob.glob(osp.join(str(dest), 'mmakd-*.whl'))
    return wheel


def install_wheel(wheel: str, target: Union[str, os.PathLike]) -> str:
    """``pip install --no-deps --target target wheel`` (offline).

    Returns:
        str: ``target``, where the packages now are.
    """
    proc = subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index',
        '-q', '--target',
        str(target), wheel
    ],
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return str(target)


def run_tool(cmd: List[str],
             unset: Sequence[str] = (),
             check: bool = True,
             timeout: float = 300,
             **env: str) -> str:
    """Runs a tool from the repository root with ``tests/data`` importable.

    Args:
        cmd: The command, e.g. ``['bash', 'tools/dist_train.sh', ...]``.
        unset: Variables of this environment to leave out (``LOCAL_RANK``
            always is).
        check: Whether a non-zero exit fails the test.
        timeout: Seconds before the run is killed (and the test fails).
        **env: Extra environment variables.

    Returns:
        str: stdout and stderr.
    """
    full_env = {
        **os.environ, 'PYTHONPATH':
        os.pathsep.join(
            filter(None, [TESTS_DATA, os.environ.get('PYTHONPATH')])),
        **env
    }
    for name in ('LOCAL_RANK', *unset):
        full_env.pop(name, None)
    proc = subprocess.run(
        cmd,
        cwd=REPO_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout)
    output = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, output[-5000:]
    return output


def load_tool(relative: str, name: Optional[str] = None):
    """Imports a script of ``tools/`` (e.g. ``'misc/distill_config.py'``)
    as a module, under ``name`` (default: from its path)."""
    import importlib.util
    path = osp.join(REPO_ROOT, 'tools', relative)
    name = name or 'mmakd_tools_' + relative[:-3].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> str:
    """A free TCP port on 127.0.0.1, for torchrun's ``PORT``."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


# ------------------------------------------- toy teacher checkpoints (Runner)

#: The toy teacher of ``tests/data/toy_kd.py``.
TOY_TEACHER = dict(type='ToyNet', channels=16)


def toy_teacher_runner_cfg(work_dir: str, **overrides: Any) -> Config:
    """A Runner config that trains :data:`TOY_TEACHER` alone in ``work_dir``
    (2 iterations, a checkpoint every 2)."""
    import uuid
    cfg = toy_config(**{'train_cfg.max_iters': 2, **overrides})
    cfg.model = dict(TOY_TEACHER)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = uuid.uuid4().hex  # Runner globals are per name
    cfg.log_level = 'WARNING'
    return cfg


def build_toy_distill(teacher_ckpt: Optional[str],
                      teacher: Optional[Dict] = None,
                      **kwargs: Any) -> nn.Module:
    """The toy SingleTeacherDistill with ``teacher_ckpt`` (init_weights run).

    Args:
        teacher_ckpt: Path of the teacher checkpoint, or None.
        teacher: Teacher model config. Defaults to :data:`TOY_TEACHER`.
        **kwargs: Further algorithm arguments (``type``,
            ``teacher_ckpt_strict``, ...).
    """
    cfg = toy_config()
    cfg.model.update(
        teacher=teacher or TOY_TEACHER, teacher_ckpt=teacher_ckpt, **kwargs)
    return build_model(cfg)


def assert_weights(module: nn.Module,
                   state_dict: Dict[str, torch.Tensor],
                   keys: Optional[Sequence[str]] = None) -> None:
    """Every (or each listed) weight of ``module`` equals ``state_dict``'s."""
    own = module.state_dict()
    for key in keys or own:
        assert torch.equal(own[key], state_dict[key]), key


def cwd(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """The plain :data:`CWD` loss of ``student`` against ``teacher``."""
    from mmrazor.registry import MODELS
    return MODELS.build(CWD)(student, teacher)
