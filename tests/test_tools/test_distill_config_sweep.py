"""The recipe generator on pairs from mmdet's and mmseg's own configs:
each pair is generated (with its verification step), then built and
trained two steps, as a user would run it.

Across families and tasks, with channel mismatches, cross-family pairs,
logits of different strides and non-contiguous logits. docs/tools.md lists
the pairs with their result (``pytest -m slow`` of this file prints the
pairs that fail).
"""
import os.path as osp

import pytest
import torch
from helpers import build_model, load_recipe, load_tool
from mmengine.optim import build_optim_wrapper

tool = load_tool('misc/distill_config.py')

DET, SEG = 'mmdet::', 'mmseg::'
CITYSCAPES = '4xb2-80k_cityscapes-512x1024.py'
#: (id, teacher, student, method, where, input size): what the pair tests.
PAIRS = [
    ('retinanet r101 -> r50', f'{DET}retinanet/retinanet_r101_fpn_1x_coco.py',
     f'{DET}retinanet/retinanet_r50_fpn_1x_coco.py', 'cwd', 'neck', 128),
    ('fcos r101 -> r50', f'{DET}fcos/fcos_r101-caffe_fpn_gn-head-1x_coco.py',
     f'{DET}fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py', 'pkd', 'neck', 128),
    ('gfl r101 -> r50', f'{DET}gfl/gfl_r101_fpn_ms-2x_coco.py',
     f'{DET}gfl/gfl_r50_fpn_1x_coco.py', 'cwd', 'logits', 128),
    ('atss r101 -> retinanet r50 (cross-family)',
     f'{DET}atss/atss_r101_fpn_1x_coco.py',
     f'{DET}retinanet/retinanet_r50_fpn_1x_coco.py', 'mgd', 'neck', 128),
    ('faster r-cnn r101 -> r50 (two-stage)',
     f'{DET}faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py',
     f'{DET}faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'fgd', 'neck', 128),
    ('rtmdet s -> tiny (channels 128 -> 96)',
     f'{DET}rtmdet/rtmdet_s_8xb32-300e_coco.py',
     f'{DET}rtmdet/rtmdet_tiny_8xb32-300e_coco.py', 'cwd', 'neck', 128),
    ('yolox s -> tiny (channels 128 -> 96)',
     f'{DET}yolox/yolox_s_8xb8-300e_coco.py',
     f'{DET}yolox/yolox_tiny_8xb8-300e_coco.py', 'cwd', 'neck', 128),
    ('mask r-cnn r101 -> r50 (instance segmentation)',
     f'{DET}mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py',
     f'{DET}mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', 'pkd', 'neck', 128),
    ('pspnet r101 -> r18 (logits)', f'{SEG}pspnet/pspnet_r101-d8_{CITYSCAPES}',
     f'{SEG}pspnet/pspnet_r18-d8_{CITYSCAPES}', 'cwd', 'logits', 64),
    ('deeplabv3+ r101 -> r18 (logits)',
     f'{SEG}deeplabv3plus/deeplabv3plus_r101-d8_{CITYSCAPES}',
     f'{SEG}deeplabv3plus/deeplabv3plus_r18-d8_{CITYSCAPES}', 'cwd',
     'logits', 64),
    ('upernet r101 -> pspnet r18 (logits at stride 4 and 8)',
     f'{SEG}upernet/upernet_r101_{CITYSCAPES}',
     f'{SEG}pspnet/pspnet_r18-d8_{CITYSCAPES}', 'cwd', 'logits', 64),
    ('segformer mit-b2 -> mit-b0 (non-contiguous logits)',
     f'{SEG}segformer/segformer_mit-b2_8xb1-160k_cityscapes-1024x1024.py',
     f'{SEG}segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py',
     'cwd', 'logits', 64),
    ('pspnet r50 -> bisenetv2 (cross-family)',
     f'{SEG}pspnet/pspnet_r50-d8_{CITYSCAPES}',
     f'{SEG}bisenetv2/bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024.py',
     'cwd', 'logits', 64),
]


def train_two_steps(config: str, task: str, size: int) -> list:
    """The written config built without weights; two SGD steps on a
    generated batch; the distill losses of each."""
    from mmakd.config_gen.probe import training_batch
    from mmakd.config_gen.verify import first_iteration
    model = build_model(load_recipe(config))
    model.train()
    wrapper = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=1e-4, momentum=0.9)))
    losses = []
    with first_iteration():  # as a Runner's hub (YOLOX's batch resize)
        for _ in range(2):
            log_vars = model.train_step(
                training_batch(model, task, (size, size)), wrapper)
            losses.append({k: float(v) for k, v in log_vars.items()
                           if k.startswith('distill.loss')})
    return losses


@pytest.mark.slow
@pytest.mark.parametrize('teacher,student,method,where,size',
                         [pytest.param(*p[1:], id=p[0]) for p in PAIRS])
def test_generated_pair_verifies_and_trains_two_steps(
        capsys, tmp_path, teacher, student, method, where, size):
    out = tmp_path / 'akd.py'
    code = tool.main(['--teacher', teacher, '--student', student,
                      '--method', method, '--where', where, '--akd',
                      '--input-size', str(size), str(size),
                      '--out', str(out)])
    stdout, err = capsys.readouterr()
    assert code == 0, f'{teacher} -> {student}: {err}'
    assert 'verified: one training step' in stdout and osp.isfile(out)
    losses = train_two_steps(str(out), 'seg' if SEG in student else 'det',
                             size)
    assert all(step and all(torch.isfinite(torch.tensor(v))
                            for v in step.values()) for step in losses), \
        losses
