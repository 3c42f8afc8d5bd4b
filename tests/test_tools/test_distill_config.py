"""tools/misc/distill_config.py: --list, the written configs, bad input."""
import os.path as osp
import sys
from pathlib import Path
from typing import List

import pytest
import torch
from helpers import (REPO_ROOT, TESTS_DATA, TOY_KD_CONFIG, build_model,
                     det_batch, load_recipe, load_tool, run_tool, seg_batch,
                     train_step)
from mmengine.config import Config

if TESTS_DATA not in sys.path:  # toy_kd.py's custom_imports
    sys.path.insert(0, TESTS_DATA)

DIGITS = osp.join(REPO_ROOT, 'projects', 'digit_scenes', 'configs')
DET_T = osp.join(DIGITS, 'retinanet_r18-w32_fpn_1500i_digit-scenes.py')
DET_S = osp.join(DIGITS, 'retinanet_r18-w8_fpn_1500i_digit-scenes.py')
SEG_T = osp.join(DIGITS, 'pspnet_r18-w32-d4_1500i_digit-scenes.py')
SEG_S = osp.join(DIGITS, 'pspnet_r18-w8-d4_1500i_digit-scenes.py')
CWD_DET = osp.join(DIGITS,
                   'cwd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py')
CWD_SEG = osp.join(
    DIGITS, 'cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_digit-scenes.py')


tool = load_tool('misc/distill_config.py')


def run(capsys, *argv: str) -> tuple:
    code = tool.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def generate(capsys, out: Path, teacher: str, student: str,
             *extra: str) -> Config:
    code, stdout, err = run(capsys, '--teacher', teacher, '--student',
                            student, '--out', str(out), *extra)
    assert code == 0, err
    assert f'written: {out}' in stdout
    return Config.fromfile(str(out))


def test_list_prints_the_recordable_outputs_of_a_detector(capsys):
    code, out, _ = run(capsys, '--list', DET_S)
    assert code == 0
    assert '(det, input (2, 3, 64, 64))' in out
    for row in [
            "| neck[2] | neck level | ModuleOutputs(source='neck'), "
            'data_idx=2 | (2, 64, 4, 4) | 64 | 16 |',
            '| backbone[0] | backbone stage |',
            "| bbox_head.retina_cls#1 | logits | ModuleOutputs(source='bbox_"
            "head.retina_cls'), record_idx=1 | (2, 90, 8, 8) | 90 | 8 |",
    ]:
        assert row in out, out


def test_list_prints_the_recordable_outputs_of_a_segmentor(capsys):
    code, out, _ = run(capsys, '--list', SEG_S, '--input-size', '32', '48')
    assert code == 0
    assert '(seg, input (2, 3, 32, 48))' in out
    assert "| decode_head.conv_seg | logits | ModuleOutputs(source='decode_" \
        "head.conv_seg') | (2, 11, 8, 12) | 11 | 4 |" in out, out


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_digit_scenes_cwd_reproduces_the_hand_written_recipe(
        capsys, tmp_path, task):
    teacher, student, recipe = (DET_T, DET_S, CWD_DET) if task == 'det' \
        else (SEG_T, SEG_S, CWD_SEG)
    out = tmp_path / 'cwd.py'
    generated = generate(capsys, out, teacher, student, '--method', 'cwd')
    written = Config.fromfile(recipe)
    assert generated.model.distiller.to_dict() == \
        written.model.distiller.to_dict()
    assert generated.model.architecture == written.model.architecture
    assert generated.model.type == written.model.type
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                'default_hooks'):
        assert generated[key] == written[key], key
    text = out.read_text()
    assert text.startswith("# Made by mmakd's distiller generator:")
    assert 'AvatarDistiller' not in text


def test_akd_adds_the_avatar_distiller_and_its_hooks_and_nothing_else(
        capsys, tmp_path):
    base = generate(capsys, tmp_path / 'cwd.py', DET_T, DET_S, '--method',
                    'cwd')
    akd = generate(capsys, tmp_path / 'akd.py', DET_T, DET_S, '--method',
                   'cwd', '--akd')
    lines = [(tmp_path / n).read_text().splitlines()[2:]
             for n in ('cwd.py', 'akd.py')]
    # The base recipe, then the AvatarDistiller line and AKD's hooks.
    assert lines[1][:len(lines[0])] == lines[0]
    added = lines[1][len(lines[0]):]
    assert "['type'] = 'AvatarDistiller'" in added[0]
    assert added[2].startswith('custom_hooks = [')
    assert akd.model.distiller.type == 'AvatarDistiller'
    assert base.model.distiller.type == 'ConfigurableDistiller'
    assert [h['type'] for h in akd.custom_hooks] == [
        h['type'] for h in base.get('custom_hooks', [])
    ] + ['mmrazor.DistillLossCheckHook', 'mmrazor.AvatarStatsHook']


def test_the_generated_akd_config_trains_one_step(capsys, tmp_path):
    out = tmp_path / 'akd.py'
    generate(capsys, out, DET_T, DET_S, '--method', 'pkd', '--akd',
             '--loss-weight', '2')
    model = build_model(load_recipe(str(out)))
    losses = train_step(model, det_batch(model, size=(64, 64)))
    assert {f'distill.loss_pkd_fpn{i}' for i in range(3)} <= set(losses)
    assert all(v.isfinite().all() for v in losses.values())


@pytest.mark.parametrize('args,message', [
    (['--list', TOY_KD_CONFIG],
     '--list: expected an mmdet detector or mmseg segmentor config'),
    (['--teacher', DET_T, '--student', DET_S, '--method', 'cwd', '--where',
      'neck.nowhere'], "--where: the teacher has no module ['neck.nowhere']"),
    (['--teacher', DET_T, '--student', SEG_S, '--method', 'cwd'],
     '--teacher is a det model and --student a seg model'),
    (['--teacher', SEG_T, '--student', SEG_S, '--method', 'fgd'],
     '--method fgd reads the ground-truth boxes: detectors only'),
    (['--teacher', SEG_T, '--student', SEG_S, '--method', 'cwd',
      '--loss-weight', 'nan'],
     '`--loss-weight` must be a finite number > 0, but got nan'),
])
def test_bad_input_names_the_argument_and_writes_nothing(
        capsys, tmp_path, args, message):
    out = tmp_path / 'out.py'
    argv: List[str] = args + (['--out', str(out)] if '--list' not in args
                              else [])
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err, err
    assert not out.exists()


def test_a_module_on_one_side_only_lists_both_sides(capsys, tmp_path):
    out = tmp_path / 'x.py'
    code, _, err = run(capsys, '--teacher', DET_T, '--student',
                       'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
                       '--method', 'cwd', '--where', 'bbox_head.retina_cls',
                       '--input-size', '64', '64', '--out', str(out))
    assert code == 2, err
    assert "the student has no module ['bbox_head.retina_cls']" in err
    assert 'the teacher has no module' not in err
    assert '\nteacher:\n| output |' in err and '\nstudent:\n| output |' in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is here')
def test_device_cuda_without_cuda_is_refused(capsys, tmp_path):
    out = tmp_path / 'x.py'
    code, _, err = run(capsys, '--teacher', SEG_T, '--student', SEG_S,
                       '--method', 'cwd', '--device', 'cuda', '--out',
                       str(out))
    assert code == 2 and '--device cuda: torch' in err and \
        'sees no CUDA device' in err, err
    assert not out.exists()


def test_a_failing_verification_writes_nothing(capsys, tmp_path):
    out = tmp_path / 'x.py'
    # A weight that overflows float32: the loss is inf.
    code, _, err = run(capsys, '--teacher', SEG_T, '--student', SEG_S,
                       '--method', 'cwd', '--loss-weight', '1e39', '--out',
                       str(out))
    assert code == 2, err
    assert 'failed at the forward stage' in err and 'not finite' in err
    assert 'Nothing was written (--no-verify' in err
    assert not out.exists()
    # --no-verify writes it.
    code, stdout, _ = run(capsys, '--teacher', SEG_T, '--student', SEG_S,
                          '--method', 'cwd', '--loss-weight', '1e39',
                          '--no-verify', '--out', str(out))
    assert code == 0 and 'not verified (--no-verify)' in stdout
    assert out.exists()


def test_both_models_are_probed_at_the_students_input_size(
        capsys, tmp_path, monkeypatch):
    """A Cityscapes teacher (512x1024 crops) and a Digit Scenes student
    (64x64): both probed at 64x64; --input-size overrides."""
    from mmakd.config_gen import generate as module
    from mmakd.utils.config import input_size_of
    sizes = []
    probe = module.probe_model
    monkeypatch.setattr(
        module, 'probe_model',
        lambda cfg, size=None, *a, **k: sizes.append(size) or probe(
            cfg, size, *a, **k))
    teacher = 'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'
    for extra, expected in (([], input_size_of(Config.fromfile(SEG_S))),
                            (['--input-size', '32', '48'], (32, 48))):
        sizes.clear()
        run(capsys, '--teacher', teacher, '--student', SEG_S, '--method',
            'cwd', '--where', 'backbone.layer4', '--no-verify', '--out',
            str(tmp_path / 'x.py'), '--force', *extra)
        assert sizes and set(sizes) == {expected}, sizes


def test_an_unknown_module_lists_the_available_ones(capsys, tmp_path):
    code, _, err = run(capsys, '--teacher', DET_T, '--student', DET_S,
                       '--method', 'cwd', '--where', 'nowhere', '--out',
                       str(tmp_path / 'x.py'))
    assert code == 2 and '| neck[0] | neck level |' in err


def test_an_unknown_method_is_refused_by_its_argument(capsys):
    with pytest.raises(SystemExit):
        tool.main(['--teacher', DET_T, '--student', DET_S, '--method',
                   'kd', '--out', 'x.py'])
    assert "argument --method: invalid choice: 'kd'" in \
        capsys.readouterr().err


def test_an_existing_out_needs_force(capsys, tmp_path):
    out = tmp_path / 'out.py'
    out.write_text('# mine\n')
    code, _, err = run(capsys, '--teacher', DET_T, '--student', DET_S,
                       '--method', 'cwd', '--out', str(out))
    assert code == 2 and 'pass --force' in err
    assert out.read_text() == '# mine\n'
    generate(capsys, out, DET_T, DET_S, '--method', 'cwd', '--force')


#: (teacher, student, method, where, input size): different channel counts
#: (RTMDet), across families (FCOS -> RetinaNet), a segmentor's logits and
#: MGD's connectors.
PAIRS = [
    ('mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py',
     'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py', 'cwd', 'neck'),
    ('mmdet::fcos/fcos_r101-caffe_fpn_gn-head-1x_coco.py',
     'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', 'pkd', 'neck'),
    ('mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb2-80k_cityscapes-'
     '512x1024.py',
     'mmseg::deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-'
     '512x1024.py', 'cwd', 'logits'),
    ('mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py',
     'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', 'mgd', 'neck'),
]


@pytest.mark.slow
@pytest.mark.parametrize('teacher,student,method,where', PAIRS)
def test_generated_configs_of_real_pairs_build_and_step(
        capsys, tmp_path, teacher, student, method, where):
    out = tmp_path / 'akd.py'
    generate(capsys, out, teacher, student, '--method', method, '--where',
             where, '--akd', '--input-size', '128', '128')
    model = build_model(load_recipe(str(out)))
    if 'mmseg' in teacher:
        batch = seg_batch(model, size=(64, 64))
    else:
        batch = det_batch(model, size=(128, 128))
    losses = train_step(model, batch)
    distill = [k for k in losses if k.startswith('distill.loss_')]
    assert distill and all(losses[k].isfinite() for k in distill)


@pytest.mark.slow
def test_logits_of_different_strides_pair_with_the_coarser_upsampled(
        capsys, tmp_path):
    """PSPNet's logits are at stride 8, SegFormer's at 4 (and not
    contiguous on the CPU): the teacher's are upsampled x2 and both made
    contiguous; the written config trains."""
    out = tmp_path / 'x.py'
    code, stdout, err = run(
        capsys, '--teacher',
        'mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py',
        '--student',
        'mmseg::segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py',
        '--method', 'cwd', '--input-size', '64', '64', '--out', str(out))
    assert code == 0, err
    assert '(teacher x2 bilinear)' in stdout
    assert 'verified: one training step at 64x64 on cpu' in stdout
    text = out.read_text()
    assert "# Resized: the teacher's decode_head.conv_seg (stride 8) is " \
        'upsampled x2 (bilinear)' in text
    connectors = Config.fromfile(str(out)).model.distiller.connectors
    assert connectors.t_logits.connectors[0].func_args.scale_factor == 2
    assert connectors.s_logits == dict(type='ContiguousConnector',
                                       connectors=[])


def test_tools_train_py_trains_the_generated_config_as_it_is(
        capsys, tmp_path):
    """Two iterations of ``tools/train.py OUT.py`` on generated scenes; only
    the data location and the schedule's length are overridden."""
    from projects.digit_scenes.digit_scenes import create_digit_scenes
    root = str(tmp_path / 'scenes')
    create_digit_scenes(root, 8, 4, seed=0)
    out = tmp_path / 'akd.py'
    generate(capsys, out, SEG_T, SEG_S, '--method', 'cwd', '--akd')
    options = [
        f'{split}_dataloader.dataset.data_root={root}/'
        for split in ('train', 'val', 'test')
    ] + ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
         'default_hooks.checkpoint.interval=2',
         'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2']
    output = run_tool([sys.executable, 'tools/train.py', str(out),
                       '--work-dir', str(tmp_path / 'run'), '--cfg-options',
                       *options])
    assert 'distill.loss_cwd' in output and 'distill.akd_sigma' in output
    assert (tmp_path / 'run' / 'iter_2.pth').is_file()
