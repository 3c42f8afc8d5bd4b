"""The three-line swap on MMRazor's own recipes, and the explicit form."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmakd  # noqa: F401
from mmakd.models import AvatarDistiller, UncertaintyAwareKDLoss
from mmakd.utils import load_config, without_downloads
from mmrazor.registry import MODELS

RETINA_CWD = \
    'mmrazor::distill/mmdet/cwd/cwd_fpn_retina_r101_retina_r50_1x_coco.py'
PSP_CWD = 'mmrazor::distill/mmseg/cwd/' \
    'cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'


def three_line_swap(base: str, tmp_path) -> Config:
    """The README's three lines, as a user writes them in a config file."""
    path = tmp_path / 'akd.py'
    path.write_text(f"_base_ = '{base}'\n"
                    "custom_imports = dict(imports=['mmakd'], "
                    'allow_failed_imports=False)\n'
                    "model = dict(distiller=dict(type='AvatarDistiller'))\n")
    return Config.fromfile(str(path))


def build(cfg: Config):
    init_default_scope('mmrazor')
    torch.manual_seed(0)
    return MODELS.build(without_downloads(cfg.model))


def det_batch(size=(64, 96)):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(
        2, [[3, *size], [3, *size]], num_items=[3, 2], num_classes=80)


def seg_batch(size=(64, 64), num_classes=19):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, *size)))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size,
                                 pad_shape=size))
        samples.append(sample)
    inputs = [torch.randint(0, 256, (3, *size), dtype=torch.uint8)
              for _ in range(2)]
    return dict(inputs=inputs, data_samples=samples)


def train_step(model, batch) -> dict:
    """Forward and backward of one training step; returns the logged values.

    The gradients stay in place for the test to inspect (an optimizer step
    would zero them).
    """
    model.train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    loss, log_vars = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    return log_vars


def assert_distilled_with_avatars(model, log_vars, num_losses):
    assert isinstance(model.distiller, AvatarDistiller)
    wrapped = [
        m for m in model.distiller.distill_losses.values()
        if isinstance(m, UncertaintyAwareKDLoss)
    ]
    assert len(wrapped) == num_losses
    distill = {k: v for k, v in log_vars.items() if k.startswith('distill.')}
    assert any(k.startswith('distill.akd_sigma') for k in distill)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())
    assert all(p.grad is None for p in model.teacher.parameters())
    student_grads = [
        p.grad for p in model.student.parameters() if p.grad is not None
    ]
    assert student_grads and all(torch.isfinite(g).all()
                                 for g in student_grads)


def test_three_line_swap_retinanet_cwd(tmp_path):
    model = build(three_line_swap(RETINA_CWD, tmp_path))
    log_vars = train_step(model, det_batch())
    assert_distilled_with_avatars(model, log_vars, num_losses=5)


@pytest.mark.slow
def test_three_line_swap_pspnet_cwd_logits(tmp_path):
    model = build(three_line_swap(PSP_CWD, tmp_path))
    log_vars = train_step(model, seg_batch())
    assert_distilled_with_avatars(model, log_vars, num_losses=1)


def test_explicit_form_on_the_recipe():
    cfg = load_config(RETINA_CWD)
    losses = cfg.model.distiller.distill_losses
    for name in list(losses):
        losses[name] = dict(
            type='UncertaintyAwareKDLoss',
            base_loss=losses[name],
            uncertainty='official')
    model = build(cfg)  # MMRazor's own ConfigurableDistiller
    assert type(model.distiller).__name__ == 'ConfigurableDistiller'
    log_vars = train_step(model, det_batch())
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())
    assert 'distill.loss_cwd_fpn0' in log_vars


def test_swap_matches_base_recipe_without_perturbation(tmp_path):
    """p=0 and no uncertainty: the swap changes nothing in the losses."""
    base = build(load_config(RETINA_CWD))
    cfg = three_line_swap(RETINA_CWD, tmp_path)
    cfg.model.distiller.update(
        uncertainty='none',
        avatar_generator=dict(
            perturbation=dict(type='ElementDropout', p=0.0)))
    akd = build(cfg)
    akd.load_state_dict(base.state_dict())
    batch = det_batch()
    base.train()
    akd.train()
    with torch.no_grad():
        base_losses = base(**base.data_preprocessor(batch, True), mode='loss')
        akd_losses = akd(**akd.data_preprocessor(batch, True), mode='loss')
    for name, value in base_losses.items():
        if name.startswith('distill.'):
            assert torch.equal(value, akd_losses[name]), name
