"""The three-line swap on MMRazor's own recipes, and the explicit form."""
import pytest
import torch
from helpers import build_model, det_batch, seg_batch, train_step
from mmengine.config import Config

import mmakd  # noqa: F401
from mmakd.models import AvatarDistiller, UncertaintyAwareKDLoss
from mmakd.utils import disable_downloads, load_config, resolve_cfg_paths

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
    torch.manual_seed(0)
    return build_model(load_recipe_cfg(cfg))


def load_recipe_cfg(cfg: Config) -> Config:
    """``cfg`` with its sub-models expanded and no checkpoint to fetch."""
    cfg.model = resolve_cfg_paths(cfg.model)
    return disable_downloads(cfg)


def assert_distilled_with_avatars(model, log_vars, num_losses):
    assert isinstance(model.distiller, AvatarDistiller)
    wrapped = [
        m for m in model.distiller.distill_losses.values()
        if isinstance(m, UncertaintyAwareKDLoss)
    ]
    assert len(wrapped) == num_losses
    assert any(k.startswith('distill.loss') for k in log_vars)
    # The recorders still hold this step's features: the logged statistics.
    stats = model.distiller.compute_distill_losses()
    assert any(k.startswith('akd_sigma.') for k in stats)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())
    assert all(p.grad is None for p in model.teacher.parameters())
    student_grads = [
        p.grad for p in model.student.parameters() if p.grad is not None
    ]
    assert student_grads and all(torch.isfinite(g).all()
                                 for g in student_grads)


def test_three_line_swap_retinanet_cwd(tmp_path):
    model = build(three_line_swap(RETINA_CWD, tmp_path))
    log_vars = train_step(model, det_batch(model, size=(64, 96)))
    assert_distilled_with_avatars(model, log_vars, num_losses=5)


@pytest.mark.slow
def test_three_line_swap_pspnet_cwd_logits(tmp_path):
    model = build(three_line_swap(PSP_CWD, tmp_path))
    log_vars = train_step(model, seg_batch(model, size=(64, 64)))
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
    log_vars = train_step(model, det_batch(model, size=(64, 96)))
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
    batch = det_batch(base, size=(64, 96))
    base.train()
    akd.train()
    with torch.no_grad():
        base_losses = base(**base.data_preprocessor(batch, True), mode='loss')
        akd_losses = akd(**akd.data_preprocessor(batch, True), mode='loss')
    for name, value in base_losses.items():
        if name.startswith('distill.'):
            assert torch.equal(value, akd_losses[name]), name
