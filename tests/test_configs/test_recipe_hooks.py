"""The RTMDet and YOLOX AKD recipes train under their own hooks, as users
launch them.

``configs/cwd/akd-cwd_neck_rtmdet-s_rtmdet-tiny_8xb32-300e_coco.py`` and
``configs/cwd/akd-cwd_neck_yolox-l_yolox-s_8xb8-300e_coco.py`` run with
``bash tools/dist_train.sh CONFIG 2`` (2 CPU ranks, gloo) on Digit Scenes
under their own ``custom_hooks``, then again from an earlier checkpoint:

- RTMDet, 3 epochs: EMA (``ExpMomentumEMA``, ``strict_load=False``),
  mmdet's ``PipelineSwitchHook`` (the pipeline without mosaic from epoch 1)
  and MMRazor's ``StopDistillHook`` (the student alone from epoch 2);
  resumed from epoch 1, so that the resumed run distills, then stops;
- YOLOX (a YOLOX-l teacher is cheap at 64x64), 4 epochs: mmakd's
  ``StudentYOLOXModeSwitchHook`` (from epoch 2, ``num_last_epochs=1``, no
  Mosaic, RandomAffine or MixUp and the student's L1 loss), mmdet's
  ``SyncNormHook``, EMA and ``StopDistillHook`` at the recipe's
  ``max_epochs - num_last_epochs - 1`` (2); a checkpoint every 2 epochs
  (each is 0.5 GB, with the EMA of the whole model, teacher included, and
  takes seconds to write), resumed from epoch 2, where the hooks act again
  before the first iteration of the resumed run.

Epochs are 0-based, as the hooks count them; the logs count from 1.

Each child config (``_base_`` = the recipe) keeps the recipe's model,
hooks, hook settings and transforms, and changes only what the CPU cannot
afford, and what CPU ranks and Digit Scenes need:

- the pipelines at 64x64 instead of 640x640 (YOLOX's batch resize at 64 to
  96 instead of 480 to 800), with the recipe's transforms and settings
  (for RTMDet, ``CachedMosaic`` and ``CachedMixUp`` with RTMDet-tiny's
  caches);
- 16 training scenes, 8 per rank: ``CachedMosaic`` mixes only once it holds
  more than 4 images, so with 8 scenes (4 per rank) stage 1 would hardly
  ever make a mosaic (``test_stage_1_mixes_images`` checks that it does);
- 2 images per rank (4 iterations an epoch), the schedules fitted to the
  epochs, the hooks' epochs, validation at the end only, checkpoints as
  above, every iteration logged with ``log_processor.window_size=1`` (the
  logged value is the iteration's own), ``randomness.seed=0``;
- the models as :func:`helpers.load_recipe` resolves the ``cfg_path``
  sub-models (no ImageNet ``init_cfg``), ``teacher_ckpt=None``, and the
  student's head with Digit Scenes' 10 classes: mmdet's ``CocoMetric``
  fails on a predicted label beyond the dataset's categories (``IndexError``
  in ``results2json``);
- nothing for RTMDet's ``SyncBN`` norms (and its ``use_syncbn=True``,
  which converts its norms to ``torch.nn.SyncBatchNorm`` on more than one
  rank): DDP refuses those on the CPU (``SyncBatchNorm layers only work
  with GPU modules``), and ``tools/train.py`` runs them as ``BatchNorm``
  there (``CPUDistributedRunner``, which says so in the log);
- one data loader worker, not persistent: mmengine's ``worker_init_fn``
  seeds it alike every epoch (seed, rank, worker), so the augmentations of
  an epoch do not depend on the epochs before, and a resumed run equals
  the uninterrupted one bit for bit (the Avatars have random streams of
  their own). With ``num_workers=0`` the transforms draw from the main
  process's global generators, which the resumed run reseeds at its start
  while the uninterrupted run has drawn whole epochs from them: the
  weights then differ after the resume.

``StopDistillHook`` sets ``model.distillation_stopped`` (and logs that it
did) before every epoch from ``stop_epoch``; from then on
``FpnTeacherDistill.loss`` returns only the student's losses, so the total
loss is theirs alone. mmengine's ``LogProcessor`` still logs every key its
``MessageHub`` has seen, so the distill losses and Avatar statistics
(``distill.akd_sigma.<loss>``, ``distill.akd_spread.<loss>``) stay in the
log with their last values from before the stop; the tests check that they
are frozen there and no part of the total loss.
"""
import json
import math
import pprint
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import torch
from helpers import REPO_ROOT, free_port, load_recipe, run_tool
from mmengine.config import Config

from projects.digit_scenes.digit_scenes import create_digit_scenes

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('no_network')]

CWD_CONFIGS = Path(REPO_ROOT) / 'configs' / 'cwd'
#: Image side of every pipeline (the recipes' is 640).
SIZE = 64
TRAIN_SCENES, VAL_SCENES = 16, 4
RANKS, BATCH = 2, 2
ITERS_PER_EPOCH = TRAIN_SCENES // (RANKS * BATCH)
DISTILL_LOSSES = [f'distill.loss_cwd_fpn{i}' for i in range(3)]
AVATAR_STATS = [
    f'distill.akd_{stat}.cwd_fpn{i}' for stat in ('sigma', 'spread')
    for i in range(3)
]
STOPPED = 'Distillation has been stopped!'
#: AKD's hooks, after each recipe's own (configs/_base_/akd.py).
AKD_HOOKS = ['mmrazor.DistillLossCheckHook', 'mmrazor.AvatarStatsHook']

#: What each recipe's run looks like: 0-based epochs of its switch, of the
#: stop and of the resumed run's start (``epoch_<resume_epoch>.pth``), the
#: checkpoint interval, the messages of its switch hook, the loss the
#: switch adds, the transforms that mix images in stage 1, and where the
#: child model differs from the recipe's (besides RTMDet's norms).
RECIPES = {
    'rtmdet':
    dict(
        path=CWD_CONFIGS /
        'akd-cwd_neck_rtmdet-s_rtmdet-tiny_8xb32-300e_coco.py',
        max_epochs=3,
        switch_epoch=1,
        stop_epoch=2,
        resume_epoch=1,
        checkpoint_interval=1,
        switched=('Switch pipeline now!', ),
        switch_losses=(),
        hooks=[
            'EMAHook', 'PipelineSwitchHook', 'mmrazor.StopDistillHook',
            *AKD_HOOKS
        ],
        pipelines=('train_pipeline', 'train_pipeline_stage2'),
        mixers=('CachedMosaic', 'CachedMixUp'),
        model_changes={'architecture.bbox_head.num_classes': (80, 10)}),
    'yolox':
    dict(
        path=CWD_CONFIGS / 'akd-cwd_neck_yolox-l_yolox-s_8xb8-300e_coco.py',
        max_epochs=4,
        switch_epoch=2,
        stop_epoch=2,
        resume_epoch=2,
        checkpoint_interval=2,
        switched=('No mosaic and mixup aug now!',
                  'Add additional L1 loss now!'),
        switch_losses=('student.loss_l1', ),
        hooks=[
            'mmrazor.StudentYOLOXModeSwitchHook', 'SyncNormHook', 'EMAHook',
            'mmrazor.StopDistillHook', *AKD_HOOKS
        ],
        pipelines=('train_pipeline', ),
        mixers=('Mosaic', 'MixUp'),
        model_changes={
            'architecture.bbox_head.num_classes': (80, 10),
            'architecture.data_preprocessor.batch_augments.0.'
            'random_size_range.0': (480, SIZE),
            'architecture.data_preprocessor.batch_augments.0.'
            'random_size_range.1': (800, SIZE * 3 // 2)
        }),
}


def _models(path: Path) -> Dict[str, Dict]:
    """The recipe's student and teacher, resolved and without downloads,
    as 2 CPU ranks and Digit Scenes need them (see the module docstring)."""
    model = load_recipe(str(path)).model
    student = model.architecture.to_dict()
    teacher = model.teacher.to_dict()
    student['bbox_head']['num_classes'] = 10
    for augment in student['data_preprocessor'].get('batch_augments') or ():
        if augment['type'] == 'BatchSyncRandomResize':
            augment['random_size_range'] = (SIZE, SIZE * 3 // 2)
    return dict(architecture=student, teacher=teacher)


def _pformat(value: Any) -> str:
    return pprint.pformat(value, width=72, sort_dicts=False)


_RTMDET = '''# RTMDet-tiny's pipelines at {s}x{s}.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='CachedMosaic', img_scale=({s}, {s}), pad_val=114.0,
         max_cached_images=20, random_pop=False),
    dict(type='RandomResize', scale=({s2}, {s2}), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=({s}, {s})),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=({s}, {s}), pad_val=dict(img=(114, 114, 114))),
    dict(type='CachedMixUp', img_scale=({s}, {s}), ratio_range=(1.0, 1.0),
         max_cached_images=10, random_pop=False, pad_val=(114, 114, 114),
         prob=0.5),
    dict(type='PackDetInputs')
]
train_pipeline_stage2 = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=({s}, {s}), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=({s}, {s})),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=({s}, {s}), pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=({s}, {s}), keep_ratio=True),
    dict(type='Pad', size=({s}, {s}), pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size={batch}, num_workers=1, persistent_workers=False,
    pin_memory=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='images/train/'),
                 pipeline=train_pipeline))
# The recipe's schedule: linear warm-up (here over the first epoch), cosine
# from max_epochs // 2 to the end.
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0e-5, by_epoch=False, begin=0,
         end={iters}),
    dict(type='CosineAnnealingLR', eta_min=_base_.base_lr * 0.05,
         begin=max_epochs // 2, end=max_epochs,
         T_max=max_epochs - max_epochs // 2, by_epoch=True,
         convert_to_iter_based=True),
]
# The recipe's own hooks; only the epochs and the stage-2 pipeline change.
ema_hook, switch_hook, stop_hook, *akd_hooks = _base_.custom_hooks
custom_hooks = [
    ema_hook,
    dict(switch_hook, switch_epoch={switch_epoch},
         switch_pipeline=train_pipeline_stage2),
    dict(stop_hook, stop_epoch={stop_epoch}),
    *akd_hooks,
]
del ema_hook, switch_hook, stop_hook, akd_hooks
'''

_YOLOX = '''# YOLOX-s's pipelines at {s}x{s}.
num_last_epochs = max_epochs - {switch_epoch} - 1
img_scale = ({s}, {s})
train_pipeline = [
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0),
    dict(type='RandomAffine', scaling_ratio_range=(0.1, 2),
         border=(-img_scale[0] // 2, -img_scale[1] // 2)),
    dict(type='MixUp', img_scale=img_scale, ratio_range=(0.8, 1.6),
         pad_val=114.0),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', pad_to_square=True,
         pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', pad_to_square=True,
         pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size={batch}, num_workers=1, persistent_workers=False,
    dataset=dict(
        pipeline=train_pipeline,
        dataset=dict(data_root=data_root, metainfo=metainfo,
                     ann_file='annotations/instances_train.json',
                     data_prefix=dict(img='images/train/'))))
# The recipe's schedule: quadratic warm-up (here over the first epoch),
# cosine up to the last epochs, then constant.
param_scheduler = [
    dict(type='mmdet.QuadraticWarmupLR', by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=_base_.base_lr * 0.05, begin=1,
         T_max=max_epochs - num_last_epochs,
         end=max_epochs - num_last_epochs, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='ConstantLR', by_epoch=True, factor=1,
         begin=max_epochs - num_last_epochs, end=max_epochs),
]
# The recipe's own hooks; only the epochs change, as the recipe sets them.
mode_hook, sync_norm_hook, ema_hook, stop_hook, *akd_hooks = \
    _base_.custom_hooks
custom_hooks = [
    dict(mode_hook, num_last_epochs=num_last_epochs),
    sync_norm_hook,
    ema_hook,
    dict(stop_hook, stop_epoch=max_epochs - num_last_epochs - 1),
    *akd_hooks,
]
del mode_hook, sync_norm_hook, ema_hook, stop_hook, akd_hooks
'''

_COMMON = '''
val_dataloader = dict(
    batch_size={batch}, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='images/val/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + '/annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs,
                 dynamic_intervals=None)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval={interval}, max_keep_ckpts=5))
log_processor = dict(window_size=1)
randomness = dict(seed=0)
'''


def child_config(name: str, data_root: str) -> str:
    """The text of the small child config of recipe ``name``."""
    recipe = RECIPES[name]
    models = _models(recipe['path'])
    head = f'''_base_ = {str(recipe['path'])!r}

data_root = {data_root!r}
metainfo = dict(classes=tuple(str(i) for i in range(10)))
max_epochs = {recipe['max_epochs']}

model = dict(
    architecture=dict(_delete_=True, **{_pformat(models['architecture'])}),
    teacher=dict(_delete_=True, **{_pformat(models['teacher'])}),
    teacher_ckpt=None)

'''
    body = (_RTMDET if name == 'rtmdet' else _YOLOX) + _COMMON
    return head + body.format(
        s=SIZE,
        s2=2 * SIZE,
        batch=BATCH,
        iters=ITERS_PER_EPOCH,
        interval=recipe['checkpoint_interval'],
        switch_epoch=recipe['switch_epoch'],
        stop_epoch=recipe['stop_epoch'])


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('digit_scenes'))
    create_digit_scenes(root, TRAIN_SCENES, VAL_SCENES, seed=0)
    return root


@pytest.fixture(scope='module', params=sorted(RECIPES))
def name(request) -> str:
    """The recipe: ``'rtmdet'`` or ``'yolox'``."""
    return request.param


@pytest.fixture(scope='module')
def recipe(name) -> Dict[str, Any]:
    return RECIPES[name]


@pytest.fixture(scope='module')
def config(tmp_path_factory, name, data_root) -> Path:
    path = tmp_path_factory.mktemp('configs') / f'akd_{name}_digit_scenes.py'
    path.write_text(child_config(name, data_root))
    return path


def dist_train(config: Path,
               work_dir: Path,
               resume: Optional[Path] = None) -> str:
    """``bash tools/dist_train.sh config 2 --work-dir work_dir``."""
    cmd = [
        'bash', 'tools/dist_train.sh',
        str(config),
        str(RANKS), '--work-dir',
        str(work_dir)
    ]
    if resume is not None:
        cmd += ['--resume', str(resume)]
    return run_tool(cmd, timeout=600, PORT=free_port(), OMP_NUM_THREADS='1')


def _remove_checkpoints(work_dir: Path) -> None:
    """Frees the disk (YOLOX's are 0.5 GB each); the logs stay."""
    for path in work_dir.glob('*.pth'):
        path.unlink()


@pytest.fixture(scope='module')
def full(tmp_path_factory, name, config) -> Iterator[Path]:
    """The work dir of the uninterrupted run."""
    work_dir = tmp_path_factory.mktemp(f'{name}_full')
    dist_train(config, work_dir)
    yield work_dir
    _remove_checkpoints(work_dir)


@pytest.fixture(scope='module')
def resumed(tmp_path_factory, name, recipe, config,
            full) -> Iterator[Path]:
    """The work dir of the run resumed from ``recipe['resume_epoch']``."""
    work_dir = tmp_path_factory.mktemp(f'{name}_resumed')
    dist_train(
        config, work_dir, resume=full / f'epoch_{recipe["resume_epoch"]}.pth')
    yield work_dir
    _remove_checkpoints(work_dir)


# ------------------------------------------------------------------ reading


def log_lines(work_dir: Path) -> List[str]:
    """The lines of rank 0's text log (``<work_dir>/<time>/<time>.log``)."""
    log, = work_dir.glob('*/*.log')
    return log.read_text().splitlines()


def scalars(work_dir: Path) -> List[Dict[str, Any]]:
    """What the LocalVisBackend logged (``vis_data/scalars.json``)."""
    path, = work_dir.glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in path.read_text().splitlines()]


def train_scalars(work_dir: Path) -> List[Dict[str, Any]]:
    """The logged training iterations, each with its 1-based ``epoch`` and
    ``iter``."""
    return [entry for entry in scalars(work_dir) if 'loss' in entry]


def checkpoint(path: Path) -> Dict[str, Any]:
    return torch.load(path, map_location='cpu', weights_only=False)


def first_index(lines: List[str], text: str) -> int:
    return next(i for i, line in enumerate(lines) if text in line)


def last_index(lines: List[str], text: str) -> int:
    return max(i for i, line in enumerate(lines) if text in line)


def train_line(epoch: int, it: int) -> str:
    """The log line of 1-based ``epoch``'s iteration ``it``."""
    return f'Epoch(train) [{epoch}][{it}/{ITERS_PER_EPOCH}]'


def assert_logged_before(lines: List[str],
                         message: str,
                         epoch: int,
                         resumed_at: Optional[int] = None,
                         times: int = 1) -> None:
    """``message`` is logged ``times`` times, first before the first
    iteration of 0-based epoch ``epoch`` and after the last of the epoch
    before (if this run trained it: not where it resumed at ``epoch``)."""
    assert sum(message in line for line in lines) == times, message
    at = first_index(lines, message)
    assert at < first_index(lines, train_line(epoch + 1, 1)), message
    if resumed_at != epoch:
        assert last_index(lines, train_line(epoch, ITERS_PER_EPOCH)) < at


def student_total(entry: Dict[str, Any]) -> float:
    return sum(v for k, v in entry.items()
               if k.startswith('student.') and 'loss' in k)


def assert_distillation_stops(entries: List[Dict[str, Any]],
                              recipe: Dict[str, Any]) -> None:
    """Before the stop the total loss is the student's plus the distill
    losses, and every iteration has its own distill losses and Avatar
    statistics; from it the total is the student's alone and the distill
    keys only repeat their values from before the stop (see the module
    docstring; a run resumed at the stop has them from the checkpoint's
    MessageHub). The switch's losses (YOLOX's L1) appear at the switch."""
    stop = recipe['stop_epoch']
    before = [e for e in entries if e['epoch'] <= stop]
    after = [e for e in entries if e['epoch'] > stop]
    assert len(after) == (recipe['max_epochs'] - stop) * ITERS_PER_EPOCH
    for entry in before:
        for key in DISTILL_LOSSES + AVATAR_STATS:
            assert math.isfinite(entry[key]), (key, entry)
        distill = sum(entry[key] for key in DISTILL_LOSSES)
        assert distill > 0, entry
        assert entry['loss'] == pytest.approx(
            student_total(entry) + distill, rel=1e-5), entry
    if before:
        # Each iteration computed its own statistics.
        assert len({e['distill.akd_sigma.cwd_fpn0'] for e in before}) > 1
    last = before[-1] if before else after[0]
    for entry in after:
        assert entry['loss'] == pytest.approx(
            student_total(entry), rel=1e-5, abs=1e-6), entry
        for key in DISTILL_LOSSES + AVATAR_STATS:
            assert entry.get(key) == last.get(key), (key, entry)
    # The student still trains.
    assert len({student_total(e) for e in after}) > 1
    for key in recipe['switch_losses']:
        for entry in entries:
            switched = entry['epoch'] > recipe['switch_epoch']
            assert (key in entry) == switched, (key, entry)
            if switched:
                assert math.isfinite(entry[key]), (key, entry)


def assert_same_checkpoint(a: Dict[str, Any], b: Dict[str, Any]) -> None:
    """Weights, EMA weights and optimizer state equal bit for bit."""
    for part in ('state_dict', 'ema_state_dict'):
        assert a[part].keys() == b[part].keys(), part
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f'{part}.{key}'
    assert a['optimizer']['state'].keys() == b['optimizer']['state'].keys()
    for index, state in a['optimizer']['state'].items():
        for key, value in state.items():
            assert torch.equal(value, b['optimizer']['state'][index][key])


# ------------------------------------------------------------- the configs


def _differences(a: Any, b: Any, path: str = '') -> Dict[str, tuple]:
    """Each dotted path where two nested configs differ: (a's, b's)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = {}
        for key in set(a) | set(b):
            found.update(
                _differences(
                    a.get(key, '<absent>'), b.get(key, '<absent>'),
                    f'{path}.{key}' if path else str(key)))
        return found
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) \
            and len(a) == len(b):
        found = {}
        for i, (x, y) in enumerate(zip(a, b)):
            found.update(_differences(x, y, f'{path}.{i}'))
        return found
    return {} if a == b else {path: (a, b)}


def test_the_child_config_keeps_the_recipe_model_and_hooks(
        name, recipe, config):
    parent = Config.fromfile(recipe['path'])
    child = Config.fromfile(config)
    # The models differ from the recipe's, resolved without downloads, only
    # where the module docstring says.
    differences = _differences(
        load_recipe(str(recipe['path'])).model.to_dict(),
        child.model.to_dict())
    assert differences == recipe['model_changes']
    assert child.model.type == 'MMAKDFpnTeacherDistill'
    assert child.model.distiller.type == 'AvatarDistiller'
    assert child.model.distiller == parent.model.distiller
    assert child.model.teacher_ckpt is None
    # The recipe's hooks, in its order, with its settings but the epochs
    # (and RTMDet's shrunk stage-2 pipeline).
    assert [h.type for h in child.custom_hooks] == \
        [h.type for h in parent.custom_hooks] == recipe['hooks']
    changed = dict(
        switch_epoch=recipe['switch_epoch'],
        stop_epoch=recipe['stop_epoch'],
        num_last_epochs=recipe['max_epochs'] - recipe['switch_epoch'] - 1,
        switch_pipeline=child.get('train_pipeline_stage2'))
    for mine, theirs in zip(child.custom_hooks, parent.custom_hooks):
        assert mine == dict(theirs, **{
            k: v for k, v in changed.items() if k in theirs}), mine
    ema, = [h for h in child.custom_hooks if h.type == 'EMAHook']
    assert ema.ema_type == 'ExpMomentumEMA' and ema.strict_load is False
    # The pipelines keep their transforms.
    for pipeline in recipe['pipelines']:
        assert [t.type for t in child[pipeline]] == \
            [t.type for t in parent[pipeline]], pipeline
    assert child.train_dataloader.dataset.pipeline == child.train_pipeline


def test_stage_1_mixes_images(recipe, config):
    """One rank's share of an epoch (8 scenes) through the stage-1
    pipeline, at 64x64: its mosaic and its mix-up mix images."""
    from mmdet.registry import DATASETS
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == TRAIN_SCENES
    mixed = dict.fromkeys(recipe['mixers'], 0)
    transforms = getattr(dataset.pipeline, 'transforms', dataset.pipeline)
    for transform in transforms:
        kind = type(transform).__name__
        if kind in mixed:

            def counted(*args, kind=kind, get=transform.get_indexes):
                mixed[kind] += 1
                return get(*args)

            transform.get_indexes = counted
    for index in range(TRAIN_SCENES // RANKS):
        sample = dataset[index]
        assert tuple(sample['inputs'].shape) == (3, SIZE, SIZE)
    assert all(mixed.values()), mixed


# ------------------------------------------------ as dist_train.sh runs it


def test_all_epochs_train_and_validate(recipe, full):
    max_epochs = recipe['max_epochs']
    entries = train_scalars(full)
    assert [(e['epoch'], e['iter']) for e in entries] == [
        (epoch + 1, epoch * ITERS_PER_EPOCH + i + 1)
        for epoch in range(max_epochs) for i in range(ITERS_PER_EPOCH)
    ]
    assert all(math.isfinite(e['loss']) for e in entries)
    val, = [e for e in scalars(full) if 'coco/bbox_mAP' in e]
    assert val['step'] == max_epochs
    interval = recipe['checkpoint_interval']
    assert sorted(p.name for p in full.glob('*.pth')) == sorted(
        f'epoch_{epoch}.pth'
        for epoch in range(interval, max_epochs + 1, interval))


def test_syncbn_runs_as_batchnorm_on_cpu_ranks(name, full):
    """RTMDet's SyncBN (converted by mmdet's RTMDet on 2 ranks) trains as
    BatchNorm on CPU ranks, and the log says so; YOLOX has none."""
    said = [line for line in log_lines(full)
            if 'SyncBatchNorm layers run as BatchNorm' in line]
    assert len(said) == (1 if name == 'rtmdet' else 0), said


def test_the_switch_hook_switches_at_its_epoch(recipe, full):
    lines = log_lines(full)
    for message in recipe['switched']:
        assert_logged_before(lines, message, recipe['switch_epoch'])


def test_distillation_and_avatar_statistics_stop_at_stop_epoch(recipe, full):
    assert_logged_before(
        log_lines(full), STOPPED, recipe['stop_epoch'],
        times=recipe['max_epochs'] - recipe['stop_epoch'])
    assert_distillation_stops(train_scalars(full), recipe)


def test_the_checkpoints_keep_the_ema_of_the_whole_model(recipe, full):
    saved = checkpoint(full / f'epoch_{recipe["max_epochs"]}.pth')
    weights, ema = saved['state_dict'], saved['ema_state_dict']
    assert {f'module.{k}' for k in weights} <= set(ema)
    assert any(k.startswith('module.teacher.') for k in ema)
    assert all(torch.isfinite(v).all() for v in ema.values()
               if v.is_floating_point())
    # The EMA averages: the student's weights differ from their average.
    student = [
        k for k in weights
        if k.startswith('architecture.') and weights[k].is_floating_point()
    ]
    assert any(not torch.equal(weights[k], ema[f'module.{k}'])
               for k in student)


def test_the_resumed_run_ends_with_the_same_model(recipe, full, resumed):
    start = recipe['resume_epoch']
    lines = log_lines(resumed)
    assert any(f'resumed epoch: {start}, iter: {start * ITERS_PER_EPOCH}'
               in line for line in lines)
    # The hooks act again in the resumed run, at their epochs.
    for message in recipe['switched']:
        assert_logged_before(
            lines, message, recipe['switch_epoch'], resumed_at=start)
    assert_logged_before(
        lines, STOPPED, recipe['stop_epoch'], resumed_at=start,
        times=recipe['max_epochs'] - recipe['stop_epoch'])
    entries = train_scalars(resumed)
    assert entries[0]['epoch'] == start + 1
    assert entries[-1]['iter'] == recipe['max_epochs'] * ITERS_PER_EPOCH
    assert_distillation_stops(entries, recipe)
    saved = sorted(p.name for p in resumed.glob('*.pth'))
    assert saved and saved == sorted(
        p.name for p in full.glob('*.pth')
        if int(p.stem.split('_')[1]) > start)
    for name in saved:
        assert_same_checkpoint(
            checkpoint(full / name), checkpoint(resumed / name))
    # And so are the losses of the iterations both runs trained.
    uninterrupted = {e['iter']: e for e in train_scalars(full)}
    for entry in entries:
        assert entry['loss'] == uninterrupted[entry['iter']]['loss']
