"""tools/analysis_tools/check_distill.py: the pre-flight report."""
import os.path as osp
import sys

import pytest
from helpers import (REPO_ROOT, TESTS_DATA, TOY_KD_CONFIG, load_tool,
                     toy_teacher_runner_cfg)
from mmengine.runner import Runner

if TESTS_DATA not in sys.path:  # toy_kd.py's custom_imports
    sys.path.insert(0, TESTS_DATA)

DIGITS = osp.join(REPO_ROOT, 'projects', 'digit_scenes', 'configs')


tool = load_tool('analysis_tools/check_distill.py')


@pytest.fixture(scope='module')
def trained_teacher(tmp_path_factory) -> str:
    """The toy teacher after 40 iterations (8 a pass over the data)."""
    work_dir = tmp_path_factory.mktemp('teacher')
    Runner.from_cfg(
        toy_teacher_runner_cfg(
            work_dir, **{
                'train_cfg.max_iters': 40,
                'default_hooks.checkpoint.interval': 40
            })).train()
    return str(work_dir / 'iter_40.pth')


def test_a_trained_teacher_and_balanced_losses_pass(trained_teacher, capsys):
    code = tool.main([TOY_KD_CONFIG, '--teacher-ckpt', trained_teacher])
    out = capsys.readouterr().out
    assert code == 0, out
    assert 'no problem found' in out
    assert "student recorder 'logits' (ModuleOutputsRecorder of 'head'): " \
        '1 call(s)' in out
    assert 'loss_kl receives preds_S=(8, 4), preds_T=(8, 4)' in out
    assert 'distill.loss_kl' in out and "the task loss's" in out


def test_a_random_teacher_is_reported_and_fails(capsys):
    code = tool.main([TOY_KD_CONFIG])
    out = capsys.readouterr().out
    assert code == 1
    assert 'PROBLEM: the teacher is no better than a fresh one' in out
    assert "model.teacher_ckpt is wrong (it is None)" in out


def test_avatar_statistics_and_an_outsized_gradient(trained_teacher, capsys):
    """'paper' on KL: the README's warning case, the gradient over 100x."""
    code = tool.main([
        TOY_KD_CONFIG, '--teacher-ckpt', trained_teacher, '--cfg-options',
        'model.distiller.type=AvatarDistiller',
        'model.distiller.distill_losses.loss_kl.loss_weight=50'
    ])
    out = capsys.readouterr().out
    assert code == 1
    assert 'distill.akd_sigma.kl' in out and 'distill.akd_spread.kl' in out
    assert 'PROBLEM: distill.loss_kl: its gradient on the student is x' in out


def test_not_a_distillation_config_is_an_error(capsys):
    code = tool.main([osp.join(DIGITS, 'retinanet_r18-w8_fpn_1500i_'
                               'digit-scenes.py')])
    assert code == 2
    assert 'expected a distillation config' in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'akd-cwd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py',
    'generated'
])
def test_digit_scenes_with_a_random_teacher(config, tmp_path, capsys):
    """A Digit Scenes recipe, and a config written by distill_config.py,
    each with its teacher left random."""
    from projects.digit_scenes.digit_scenes import create_digit_scenes
    root = str(tmp_path / 'scenes')
    create_digit_scenes(root, 8, 4, seed=0)
    if config == 'generated':
        generator = load_tool('misc/distill_config.py',
                              'mmakd_tools_distill_config_for_check')
        path = str(tmp_path / 'gen.py')
        assert generator.main([
            '--teacher', osp.join(DIGITS, 'pspnet_r18-w32-d4_1500i_digit-'
                                  'scenes.py'), '--student',
            osp.join(DIGITS, 'pspnet_r18-w8-d4_1500i_digit-scenes.py'),
            '--method', 'cwd', '--akd', '--out', path
        ]) == 0
    else:
        path = osp.join(DIGITS, config)
    capsys.readouterr()
    code = tool.main([
        path, '--cfg-options', f'train_dataloader.dataset.data_root={root}/',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'model.teacher_ckpt=None'
    ])
    out = capsys.readouterr().out
    assert code == 1, out
    assert 'PROBLEM: the teacher is no better than a fresh one' in out
    assert 'receives' in out and "gradient norm" in out
    assert 'distill.akd_sigma' in out


def test_each_of_several_teachers_is_checked(trained_teacher, capsys):
    """tests/data/toy_multi_kd.py: the wide teacher trained, the narrow one
    random; only the narrow one is reported."""
    multi = osp.join(TESTS_DATA, 'toy_multi_kd.py')
    code = tool.main([
        multi, '--cfg-options', f'model.teachers.wide.ckpt={trained_teacher}'
    ])
    out = capsys.readouterr().out
    assert code == 1
    assert "teacher recorder 'narrow.logits' (ModuleOutputsRecorder of " \
        "'narrow.head'): 1 call(s)" in out
    assert 'PROBLEM: the teacher wide' not in out
    assert 'PROBLEM: the teacher narrow is no better than a fresh one' in out
    assert 'model.teachers.narrow.ckpt is wrong (it is None)' in out
    assert tool.main([multi, '--teacher-ckpt', trained_teacher]) == 2
    assert '--teacher-ckpt is for one teacher' in capsys.readouterr().err
