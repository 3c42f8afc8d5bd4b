"""MMRazor's own distillation recipes build and train on this stack.

Each recipe is loaded from MMRazor's package (``mmrazor::``), built with no
teacher checkpoint and no pretrained backbone (any network access fails the
test), and takes one training step on generated inputs: the losses are
finite, the student gets gradients and the teacher none.
"""
import math
from typing import Any, Iterator, Tuple

from helpers import (build_model, det_batch, grad_report, load_recipe,
                     seg_batch, train_step)
from mmrazor.models.algorithms import FpnTeacherDistill, SingleTeacherDistill
from torch.nn.modules.batchnorm import _BatchNorm

import mmakd  # noqa: F401  (MMRazor on torch 2.x)

CWD_RETINA = ('mmrazor::distill/mmdet/cwd/'
              'cwd_fpn_retina_r101_retina_r50_1x_coco.py')
CWD_PSPNET = ('mmrazor::distill/mmseg/cwd/cwd_logits_pspnet_r101-d8_'
              'pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')


def _walk(node: Any, path: str = 'model') -> Iterator[Tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f'{path}.{key}', value
            yield from _walk(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, f'{path}[{i}]')


def _assert_no_checkpoint_left(cfg) -> None:
    for path, value in _walk(cfg.model):
        key = path.rsplit('.', 1)[-1]
        assert key != 'cfg_path', path
        assert not (key == 'pretrained' and value), (path, value)
        assert not (key == 'teacher_ckpt' and value), (path, value)
        assert not (isinstance(value, dict)
                    and value.get('type') == 'Pretrained'), path


def _assert_distillation_step(model, losses) -> None:
    for name, value in losses.items():
        assert math.isfinite(float(value)), (name, float(value))
    distill = {k: float(v) for k, v in losses.items() if 'distill' in k}
    assert distill, f'no distillation loss in {sorted(losses)}'
    assert max(distill.values()) > 0, distill

    with_grad, trainable = grad_report(model.student)
    assert trainable > 0 and with_grad == trainable
    # MMRazor keeps the teacher's BatchNorm statistics frozen.
    norms = [m for m in model.teacher.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(m.training for m in norms)
    for name, param in model.teacher.named_parameters():
        assert not param.requires_grad, name
        assert param.grad is None, name


def test_cwd_fpn_retinanet_recipe_one_step(no_network):
    cfg = load_recipe(CWD_RETINA)
    _assert_no_checkpoint_left(cfg)
    model = build_model(cfg)
    assert type(model) is FpnTeacherDistill  # MMRazor's, mmakd imported

    losses = train_step(model, det_batch(model, size=(128, 128)))
    assert {'student.loss_cls', 'student.loss_bbox'} <= set(losses)
    assert {f'distill.loss_cwd_fpn{i}' for i in range(5)} <= set(losses)
    _assert_distillation_step(model, losses)


def test_cwd_logits_pspnet_recipe_one_step(no_network):
    cfg = load_recipe(CWD_PSPNET)
    _assert_no_checkpoint_left(cfg)
    model = build_model(cfg)
    assert type(model) is SingleTeacherDistill

    losses = train_step(model, seg_batch(model, size=(64, 64)))
    assert 'student.decode.loss_ce' in losses
    assert 'distill.loss_cwd' in losses
    _assert_distillation_step(model, losses)


def test_load_recipe_cleans_what_would_download():
    """The cleaned config is what MMRazor's ``cfg_path`` sub-models would
    build, minus every checkpoint, so other tests can rely on it."""
    cfg = load_recipe(CWD_PSPNET)
    student, teacher = cfg.model.architecture, cfg.model.teacher
    assert (student._scope_, student.type) == ('mmseg', 'EncoderDecoder')
    assert (student.backbone.depth, teacher.backbone.depth) == (18, 101)
    assert student.data_preprocessor.type == 'SegDataPreProcessor'
    assert student.pretrained is None and teacher.pretrained is None
    assert cfg.model.teacher_ckpt is None
