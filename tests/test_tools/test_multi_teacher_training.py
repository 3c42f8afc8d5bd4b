"""Several teachers as users launch them: tools/dist_train.sh on two CPU
ranks with EMA and checkpoints, resume, inheriting in the log, and the
Digit Scenes 3-teacher AKD recipe through tools/train.py and
export_student.py."""
import os.path as osp
import sys
from pathlib import Path

import pytest
import torch
from helpers import REPO_ROOT, TESTS_DATA, free_port, run_tool

TOY_MULTI = osp.join(TESTS_DATA, 'toy_multi_kd.py')
DIGITS = Path(REPO_ROOT) / 'projects' / 'digit_scenes' / 'configs'
AKD_3X_DET = DIGITS / ('akd-cwd_fpn_3x-retina-r18w32_retina-r18w8_1500i_'
                       'digit-scenes.py')


@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory) -> Path:
    """The toy 2-teacher AKD run: dist_train.sh, 2 ranks, EMA, 4 iters."""
    work_dir = tmp_path_factory.mktemp('multi')
    config = work_dir / 'multi_ema.py'
    config.write_text(f"_base_ = '{TOY_MULTI}'\n"
                      'custom_hooks = _base_.custom_hooks + '
                      "[dict(type='EMAHook', momentum=0.5)]\n")
    output = run_tool([
        'bash', 'tools/dist_train.sh',
        str(config), '2', '--work-dir',
        str(work_dir)
    ],
                      PORT=free_port())
    (work_dir / 'console.log').write_text(output)
    return work_dir


def test_two_ranks_train_from_both_teachers_with_ema(two_ranks):
    output = (two_ranks / 'console.log').read_text()
    assert 'Distributed training: True' in output
    assert 'Iter(train) [4/4]' in output
    for key in ('distill.loss_kl_wide', 'distill.loss_kl_narrow',
                'distill.akd_sigma.kl_wide', 'distill.akd_sigma.kl_narrow'):
        assert key in output, key
    # Inheriting, before training (rank 0 logs it).
    assert output.count('inherit: copied 1 tensors from the teacher into '
                        'the student (head: 1)') == 1
    state = torch.load(two_ranks / 'iter_4.pth')
    keys = state['state_dict']
    assert {'teacher.wide.head.weight', 'teacher.narrow.head.weight',
            'architecture.head.weight'} <= set(keys)
    # EMAHook's averaged copy of the whole model, teachers included.
    assert 'ema_state_dict' in state
    assert 'module.teacher.wide.head.weight' in state['ema_state_dict']


def test_resume_continues_the_multi_teacher_run(two_ranks, tmp_path):
    work_dir = tmp_path / 'resumed'
    output = run_tool([
        sys.executable, 'tools/train.py',
        str(two_ranks / 'multi_ema.py'), '--work-dir',
        str(work_dir), '--resume',
        str(two_ranks / 'iter_4.pth'), '--cfg-options',
        'train_cfg.max_iters=6'
    ])
    assert 'resumed epoch: 0, iter: 4' in output
    assert 'Iter(train) [6/6]' in output
    assert (work_dir / 'iter_6.pth').is_file()


def test_test_py_evaluates_the_multi_teacher_checkpoint(two_ranks, tmp_path):
    """tools/test.py: the teachers come from the tested checkpoint, their
    ``ckpt`` (absent here) is not loaded; the student is evaluated."""
    output = run_tool([
        sys.executable, 'tools/test.py',
        str(two_ranks / 'multi_ema.py'),
        str(two_ranks / 'iter_4.pth'), '--work-dir',
        str(tmp_path), '--cfg-options',
        f'model.teachers.wide.ckpt={tmp_path / "absent.pth"}'
    ])
    assert 'model.teachers.wide.ckpt (' in output
    assert 'is not loaded: the teacher comes from the tested' in output
    assert 'toy/accuracy' in output


@pytest.mark.slow
def test_digit_scenes_three_teachers_train_and_export(data_root, tmp_path):
    """tools/train.py trains the 3-teacher AKD recipe (teachers of random
    weights) for 2 iterations; export_student.py exports its student."""
    work_dir = tmp_path / 'train'
    data = [
        f'{split}_dataloader.dataset.data_root={data_root}/'
        for split in ('train', 'val', 'test')
    ] + [
        f'{split}_evaluator.ann_file={data_root}/annotations/'
        'instances_val.json' for split in ('val', 'test')
    ]
    output = run_tool([
        sys.executable, 'tools/train.py',
        str(AKD_3X_DET), '--work-dir',
        str(work_dir), '--cfg-options', *[
            f'model.teachers.t{i}.ckpt=None' for i in range(3)
        ], 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
        *data
    ])
    for name in ('t0', 't1', 't2'):
        assert f'distill.loss_cwd_fpn2_{name}' in output
        assert f'distill.akd_sigma.cwd_fpn2_{name}' in output
    assert 'Evaluating bbox' in output  # the student validated (ValLoop)
    out = tmp_path / 'student'
    run_tool([
        sys.executable, 'tools/model_converters/export_student.py',
        str(AKD_3X_DET),
        str(work_dir / 'iter_2.pth'), '--out',
        str(out)
    ])
    exported = torch.load(next(out.glob('*.pth')))['state_dict']
    source = torch.load(work_dir / 'iter_2.pth')['state_dict']
    assert exported and all(
        torch.equal(v, source[f'architecture.{k}'])
        for k, v in exported.items())
    config = next(out.glob('*.py')).read_text()
    for distillation_only in ('teacher', 'DistillLossCheckHook',
                              'AvatarStatsHook'):
        assert distillation_only not in config, distillation_only
