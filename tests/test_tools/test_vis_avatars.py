"""vis_avatars.py: the panel grid, U as the loss computes it, bad input."""
import json
import os.path as osp
import sys
from typing import List, Tuple

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'visualizations'))
import vis_avatars  # noqa: E402

DIGITS = osp.join(REPO_ROOT, 'configs', 'digit_scenes')
AKD_DET = osp.join(DIGITS, 'akd-cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                   'digit-scenes.py')
AKD_SEG = osp.join(DIGITS, 'akd-cwd_logits_pspnet-r18w32_pspnet-r18w8_'
                   '1500i_digit-scenes.py')
SEG_TEACHER = osp.join(DIGITS, 'pspnet_r18-w32-d4_1500i_digit-scenes.py')
PLAIN_DET = osp.join(DIGITS, 'retinanet_r18-w8_fpn_1500i_digit-scenes.py')


@pytest.fixture
def image(tmp_path) -> str:
    """A 64x64 scene of noise, never white (so panels have no white)."""
    import cv2
    path = str(tmp_path / 'scene.png')
    rng = np.random.default_rng(0)
    cv2.imwrite(path, rng.integers(0, 200, (64, 64, 3), dtype=np.uint8))
    return path


def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
    """(start, end) of each run of True in a 1D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def panel_grid(png: str) -> List[int]:
    """Panels per row of panels, read from the PNG's pixels.

    A row of panels is a band of pixel rows that are mostly non-white
    (titles are thin text); its panels are the long non-white runs across
    the band's middle, separated by white gaps.
    """
    import matplotlib.image
    ink = (matplotlib.image.imread(png)[..., :3] < 0.98).any(axis=-1)
    bands = [(a, b) for a, b in _runs(ink.mean(axis=1) > 0.5) if b - a > 20]
    return [
        len([r for r in _runs(ink[(a + b) // 2]) if r[1] - r[0] > (b - a) / 2])
        for a, b in bands
    ]


@pytest.mark.parametrize('config,levels', [(AKD_DET, 3), (AKD_SEG, 1)])
def test_panel_grid_and_u_is_the_loss_statistic(config, levels, image,
                                                tmp_path):
    cfg = vis_avatars.load_distill_config(config)
    model = vis_avatars.build_model(cfg, seed=0)
    data = vis_avatars.load_image(image, cfg, vis_avatars._task_scope(cfg))
    png = str(tmp_path / 'avatars.png')
    # input, teacher, N Avatars, U, sigma, student; one row per level.
    for num_avatars in (3, 1):
        rows = vis_avatars.draw_rows(model, [data], num_avatars=num_avatars,
                                     seed=0)
        drawn = vis_avatars.render(rows, vis_avatars._input_image(data),
                                   png)
        assert panel_grid(png) == [num_avatars + 5] * levels
    for row, maps in zip(rows, drawn):
        assert row.avatars.shape[0] == 1
        # The loss's own statistics on the same Avatars: its logged spread
        # is RMS(U), its sigma the mean of sigma (one image: B = 1).
        _, stats = row.loss.forward_avatars(
            {row.student_key: row.student, row.teacher_key: row.teacher},
            row.avatars)
        assert np.mean(maps['U']) == pytest.approx(
            stats['spread'].item()**2, rel=1e-5)
        assert np.mean(maps['sigma']) == pytest.approx(
            stats['sigma'].item(), rel=1e-5)
        # What is drawn is the channel mean of U = E_i[(A_i - T)^2].
        u = ((row.avatars - row.teacher[None])**2).mean(0)[0].mean(0)
        np.testing.assert_allclose(maps['U'], u.numpy(), rtol=1e-5)


def test_sigma_of_several_images_is_the_loss_sigma_of_that_batch(
        image, tmp_path):
    import cv2
    second = str(tmp_path / 'second.png')
    cv2.imwrite(second, cv2.imread(image)[::-1])
    cfg = vis_avatars.load_distill_config(AKD_SEG)
    model = vis_avatars.build_model(cfg, seed=0)
    data = [vis_avatars.load_image(p, cfg, 'mmseg') for p in (image, second)]
    (row, ) = vis_avatars.draw_rows(model, data, seed=0)
    assert row.teacher.shape[0] == 2 and row.sigma.shape[0] == 1
    (maps, ) = vis_avatars.render([row], vis_avatars._input_image(data[0]),
                                  str(tmp_path / 'avatars.png'))
    _, stats = row.loss.forward_avatars(
        {row.student_key: row.student, row.teacher_key: row.teacher},
        row.avatars)
    assert np.mean(maps['sigma']) == pytest.approx(stats['sigma'].item(),
                                                   rel=1e-5)
    # The U panel is the first image's.
    u = ((row.avatars - row.teacher[None])**2).mean(0)[0].mean(0)
    np.testing.assert_allclose(maps['U'], u.numpy(), rtol=1e-5)


def test_cli_writes_the_png_and_the_statistics(image, tmp_path):
    out = tmp_path / 'vis'
    vis_avatars.main([AKD_DET, '--img', image, '--out', str(out),
                      '--records', 'fpn', '--num-avatars', '1',
                      '--channels', '0', '3'])
    assert panel_grid(str(out / 'avatars.png')) == [6, 6, 6]
    summary = json.loads((out / 'avatars.json').read_text())
    assert [r['data_idx'] for r in summary['rows']] == [0, 1, 2]
    assert {r['uncertainty'] for r in summary['rows']} == {'paper'}


def _fails(argv: List[str], out, message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        vis_avatars.main(argv + ['--out', str(out)])
    assert message in str(exc.value)
    assert not osp.exists(out), 'nothing may be written on bad input'


def test_bad_input_is_a_clear_error_and_writes_nothing(image, tmp_path):
    out = tmp_path / 'vis'
    _fails([AKD_DET, '--img', str(tmp_path / 'missing.png')], out,
           "missing.png' does not exist")
    _fails([PLAIN_DET, '--img', image], out,
           '`model.distiller` not found')
    _fails([AKD_DET, '--img', image, '--records', 'neck'], out,
           "--records: unknown ['neck']; the teacher records that a "
           "distill loss reads are ['fpn']")
    _fails([AKD_DET, '--img', image, '--channels', '64'], out,
           '--channels [64]: the feature has 64 channels')


def test_a_checkpoint_of_another_architecture_is_refused(image, tmp_path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmseg'):
        segmentor = MODELS.build(Config.fromfile(SEG_TEACHER).model)
    ckpt = tmp_path / 'pspnet.pth'
    torch.save(dict(state_dict=segmentor.state_dict()), ckpt)
    _fails([AKD_DET, str(ckpt), '--img', image], tmp_path / 'vis',
           "does not fit this config's teacher (read as a teacher "
           'checkpoint')


def test_a_teacher_checkpoint_loads_into_the_teacher(image, tmp_path):
    cfg = vis_avatars.load_distill_config(AKD_DET)
    model = vis_avatars.build_model(cfg, seed=1)
    ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=model.teacher.state_dict()), ckpt)
    other = vis_avatars.build_model(cfg, seed=2)
    assert vis_avatars.load_weights(other, str(ckpt)) == 'teacher'
    for name, value in model.teacher.state_dict().items():
        assert torch.equal(value, other.teacher.state_dict()[name]), name


@pytest.mark.slow
def test_mmrazor_recipe_with_random_weights_and_avatars(image, tmp_path):
    """MMRazor's CWD RetinaNet R101 -> R50 with AKD's one-line switch."""
    out = tmp_path / 'vis'
    vis_avatars.main([
        'mmrazor::distill/mmdet/cwd/cwd_fpn_retina_r101_retina_r50_1x_'
        'coco.py', '--img', image, '--out', str(out), '--cfg-options',
        'model.distiller.type=AvatarDistiller'
    ])
    assert panel_grid(str(out / 'avatars.png')) == [6] * 5
    summary = json.loads((out / 'avatars.json').read_text())
    assert [r['shape'][1] for r in summary['rows']] == [256] * 5
