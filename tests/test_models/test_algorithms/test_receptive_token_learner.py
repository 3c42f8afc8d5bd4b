"""MasKD's two stages on Digit Scenes, in process and as the tools run them.

Stage 1 (``ReceptiveTokenLearner``) trains only the tokens on a frozen
teacher; its checkpoint feeds stage 2 (``MasKDLoss.tokens_ckpt``), plain and
with Avatars, launched with ``tools/dist_train.sh`` on 2 CPU processes.
"""
import re
from pathlib import Path

import pytest
import torch
from helpers import (build_model, det_batch, free_port, grad_report,
                     load_recipe, run_tool, train_step)
from mmengine.config import Config
from torch.nn.modules.batchnorm import _BatchNorm

from mmakd.models import MasKDLoss, ReceptiveTokenLearner
from projects.digit_scenes.digit_scenes import create_digit_scenes

CONFIGS = Path(__file__).resolve().parents[3] / 'projects' / 'digit_scenes' \
    / 'configs'
STAGE1 = CONFIGS / 'maskd-tokens_fpn_retina-r18w32_300i_digit-scenes.py'
MASKD = CONFIGS / 'maskd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py'
AKD_MASKD = CONFIGS / \
    'akd-maskd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py'
# The student's EMA as mmdet's detectors configure it.
EMA = dict(
    type='EMAHook',
    ema_type='mmdet.ExpMomentumEMA',
    momentum=0.0002,
    update_buffers=True,
    strict_load=False)


@pytest.fixture
def learner() -> ReceptiveTokenLearner:
    torch.manual_seed(0)
    return build_model(load_recipe(str(STAGE1)))


def test_only_the_tokens_learn(learner):
    assert isinstance(learner, ReceptiveTokenLearner)
    losses = train_step(learner, det_batch(learner, size=(64, 64)))
    assert {f'loss_diversity_{i}' for i in range(3)} <= losses.keys()
    assert any(k.startswith('loss_cls') for k in losses)
    assert all(p.grad is None for p in learner.architecture.parameters())
    with_grad, trainable = grad_report(learner.mask_modules)
    assert with_grad == trainable > 0
    # The frozen teacher's BatchNorm keeps its running statistics.
    assert learner.training
    assert all(not m.training for m in learner.architecture.modules()
               if isinstance(m, _BatchNorm))


def test_the_checkpoint_keeps_the_official_token_keys(learner):
    keys = learner.state_dict().keys()
    tokens = sorted(k for k in keys if 'mask_modules' in k)
    assert tokens[:5] == [
        'mask_modules.0.mask_token', 'mask_modules.0.prob.0.bias',
        'mask_modules.0.prob.0.weight', 'mask_modules.0.prob.2.bias',
        'mask_modules.0.prob.2.weight'
    ]
    assert len(tokens) == 15
    assert not any(k.startswith('neck.') for k in keys)  # no second neck


def test_predict_runs_the_teacher_on_the_masked_features(learner):
    batch = learner.data_preprocessor(
        det_batch(learner, size=(64, 64)), training=False)
    learner.eval()
    with torch.no_grad():
        masked = learner(**batch, mode='tensor')
        plain = learner.architecture(**batch, mode='tensor')
    assert not torch.allclose(masked[0][0], plain[0][0])
    predictions = learner(**batch, mode='predict')
    assert len(predictions) == len(batch['data_samples'])


def test_channels_that_do_not_match_the_neck_are_named():
    cfg = load_recipe(str(STAGE1))
    cfg.model.channels = [64, 64]
    model = build_model(cfg)
    with pytest.raises(ValueError,
                       match=r'`channels` lists 2 levels but the teacher\'s '
                       '`neck` returned 3 outputs'):
        train_step(model, det_batch(model, size=(64, 64)))
    cfg.model.channels = [64, 64, 64]
    cfg.model.neck = 'necks'
    with pytest.raises(ValueError, match="`neck`='necks' is not a module"):
        build_model(cfg)


# ------------------------------------------------------- as tools run it


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('digit_scenes'))
    create_digit_scenes(root, 8, 4, seed=0)
    return root


def data_options(data_root: str, iters: int):
    ann = f'{data_root}/annotations/instances_val.json'
    return [
        f'{split}_dataloader.dataset.data_root={data_root}/'
        for split in ('train', 'val', 'test')
    ] + [f'{s}_evaluator.ann_file={ann}' for s in ('val', 'test')] + [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=3',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2'
    ]


def dist_train(config: Path, work_dir: Path, options, resume=None) -> str:
    cmd = ['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir',
           str(work_dir)]
    if resume is not None:
        cmd += ['--resume', str(resume)]
    return run_tool(cmd + ['--cfg-options', *options], timeout=600,
                    PORT=free_port(), OMP_NUM_THREADS='1')


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory) -> Path:
    """A checkpoint of the Digit Scenes teacher (freshly initialised)."""
    torch.manual_seed(0)
    cfg = Config.fromfile(
        CONFIGS / 'retinanet_r18-w32_fpn_1500i_digit-scenes.py')
    teacher = build_model(cfg)
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return path


@pytest.fixture(scope='module')
def tokens_ckpt(tmp_path_factory, data_root, teacher_ckpt) -> Path:
    """Stage 1 on 2 ranks, 4 iterations."""
    work_dir = tmp_path_factory.mktemp('stage1')
    output = dist_train(STAGE1, work_dir, [
        *data_options(data_root, 4), f'model.teacher_ckpt={teacher_ckpt}'
    ])
    assert 'Iter(train) [4/4]' in output
    assert re.search(r'loss_diversity_2: [0-9.]+', output), output[-3000:]
    return work_dir / 'iter_4.pth'


def test_stage_1_on_two_ranks_trains_only_the_tokens(tokens_ckpt,
                                                     teacher_ckpt):
    saved = torch.load(tokens_ckpt, map_location='cpu',
                       weights_only=False)['state_dict']
    teacher = torch.load(teacher_ckpt, map_location='cpu')['state_dict']
    for key, value in teacher.items():
        torch.testing.assert_close(saved[f'architecture.{key}'], value)
    fresh = ReceptiveTokenLearner(
        teacher=load_recipe(str(STAGE1)).model.teacher, channels=[64] * 3)
    assert not torch.equal(saved['mask_modules.0.mask_token'],
                           fresh.mask_modules[0].mask_token.data)
    loss = MasKDLoss(64, level=2, tokens_ckpt=str(tokens_ckpt))
    torch.testing.assert_close(loss.tokens.mask_token,
                               saved['mask_modules.2.mask_token'])


@pytest.mark.parametrize('config', [
    pytest.param(MASKD, id='maskd', marks=pytest.mark.slow),
    pytest.param(AKD_MASKD, id='akd-maskd')
])
def test_stage_2_on_two_ranks_with_ema_and_the_student_masks(
        config, tmp_path, data_root, teacher_ckpt, tokens_ckpt):
    """4 iterations on 2 ranks with EMA; the student's masks join at
    iteration 2, also in a run resumed from iteration 2."""
    with_ema = tmp_path / config.name
    with_ema.write_text(f'_base_ = {str(config)!r}\n'
                        f'custom_hooks = [{EMA!r}]\n')
    config = with_ema
    options = data_options(data_root, 4) + [
        f'model.teacher_ckpt={teacher_ckpt}'
    ] + [
        f'model.distiller.distill_losses.loss_maskd_fpn{i}.{key}={value}'
        for i in range(3)
        for key, value in (('tokens_ckpt', tokens_ckpt),
                           ('custom_mask_warmup', 2))
    ]
    output = dist_train(config, tmp_path / 'run', options)
    assert 'Iter(train) [4/4]' in output
    assert re.search(r'distill\.loss_maskd_fpn2: [0-9.]+', output)
    assert 'from iteration 2 the masks are the teacher\'s times the ' \
        'student\'s' in output
    resumed = dist_train(config, tmp_path / 'resumed', options,
                         resume=tmp_path / 'run' / 'iter_2.pth')
    assert 'Iter(train) [4/4]' in resumed
    assert 'from iteration 2 the masks' in resumed
    saved = torch.load(tmp_path / 'resumed' / 'iter_4.pth',
                       map_location='cpu', weights_only=False)
    assert 'ema_state_dict' in saved
    tokens = torch.load(tokens_ckpt, map_location='cpu',
                        weights_only=False)['state_dict']
    # The tokens stayed frozen through training.
    torch.testing.assert_close(
        saved['state_dict']['distiller.distill_losses.loss_maskd_fpn1.'
                            + ('base_loss.' if 'akd' in config.name else '')
                            + 'tokens.mask_token'],
        tokens['mask_modules.1.mask_token'])
