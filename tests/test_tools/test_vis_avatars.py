"""vis_avatars.py: the panel grid, U and sigma as the loss computes them,
the generator that draws each loss's Avatars, bad input."""
import copy
import json
import os.path as osp
import re
import sys
from typing import List, Tuple

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'visualizations'))
import vis_avatars  # noqa: E402

DIGITS = osp.join(REPO_ROOT, 'projects', 'digit_scenes', 'configs')
AKD_DET = osp.join(DIGITS, 'akd-cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                   'digit-scenes.py')
AKD_SEG = osp.join(DIGITS, 'akd-cwd_logits_pspnet-r18w32_pspnet-r18w8_'
                   '1500i_digit-scenes.py')
CWD_DET = osp.join(DIGITS, 'cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                   'digit-scenes.py')
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


def _inputs(row: 'vis_avatars.Row') -> dict:
    """The loss's student and teacher inputs of a row, by argument name."""
    return {row.student_key: row.student, row.teacher_key: row.teacher}


def test_a_config_without_avatars_is_drawn_with_akd_defaults(
        image, tmp_path):
    out = tmp_path / 'vis'
    vis_avatars.main([CWD_DET, '--img', image, '--out', str(out)])
    assert panel_grid(str(out / 'avatars.png')) == [6, 6, 6]
    summary = json.loads((out / 'avatars.json').read_text())
    assert {r['uncertainty'] for r in summary['rows']} == {'no AKD'}
    assert {r['sigma_mode'] for r in summary['rows']} == {'sampled'}

    cfg = vis_avatars.load_distill_config(CWD_DET)
    assert cfg.model.distiller.type == 'ConfigurableDistiller'
    model = vis_avatars.build_model(cfg, seed=0)
    data = vis_avatars.load_image(image, cfg, 'mmdet')
    torch.manual_seed(1)
    rows = vis_avatars.draw_rows(model, [data], seed=0)
    # AKD's default generator (1 Avatar, element dropout 0.1), seeded with
    # the seed; its records drawn in turn, as in one training step.
    generator = vis_avatars.AvatarGenerator().manual_seed(0)
    for row, first in zip(rows, summary['rows']):
        assert torch.equal(row.avatars, generator(row.teacher, step=0))
        # U and sigma of a default UncertaintyAwareKDLoss around the loss.
        base = model.distiller.distill_losses[row.loss_name]
        assert isinstance(row.loss, vis_avatars.UncertaintyAwareKDLoss)
        assert row.loss.base_loss is base
        assert (row.loss.uncertainty, row.loss.sigma, row.loss.eps) == (
            'paper', 'sampled', 1e-2)
        _, stats = row.loss.forward_avatars(_inputs(row), row.avatars)
        torch.testing.assert_close(row.sigma.mean(), stats['sigma'])
        torch.testing.assert_close(row.spread, stats['spread'])
        assert first['mean_sigma'] == pytest.approx(stats['sigma'].item())
        assert first['spread'] == pytest.approx(stats['spread'].item())
    # The draw depends on the seed only, not on torch's global stream.
    torch.manual_seed(2)
    again = vis_avatars.draw_rows(model, [data], seed=0)
    other = vis_avatars.draw_rows(model, [data], seed=1)
    for row, same, different in zip(rows, again, other):
        assert torch.equal(row.avatars, same.avatars)
        assert not torch.equal(row.avatars, different.avatars)


def test_a_loss_with_a_generator_of_its_own_draws_its_avatars(
        image, tmp_path):
    cfg = vis_avatars.load_distill_config(AKD_DET)
    own = dict(num_avatars=3, perturbation=dict(type='GaussianNoise',
                                                std=0.5))
    cfg.model.distiller.distill_losses['loss_cwd_fpn1'] = dict(
        type='UncertaintyAwareKDLoss',
        base_loss=dict(type='ChannelWiseDivergence', tau=1, loss_weight=10),
        avatar_generator=own)
    model = vis_avatars.build_model(cfg, seed=0)
    distiller = model.distiller
    data = vis_avatars.load_image(image, cfg, 'mmdet')
    rows = vis_avatars.draw_rows(model, [data], seed=0)
    assert [row.loss_name for row in rows] == [
        'loss_cwd_fpn0', 'loss_cwd_fpn1', 'loss_cwd_fpn2']
    assert [row.avatars.shape[0] for row in rows] == [1, 3, 1]
    # loss_cwd_fpn1's Avatars: its own generator's Gaussian noise, which
    # moves every element (element dropout leaves 90 % of them as T).
    loss = distiller.distill_losses['loss_cwd_fpn1']
    noisy = rows[1]
    assert (noisy.avatars != noisy.teacher[None]).float().mean() > 0.99
    assert torch.equal(
        noisy.avatars,
        copy.deepcopy(loss.avatar_generator).manual_seed(0)(noisy.teacher,
                                                            step=0))
    # The other levels: the distiller's generator, one stream in turn.
    shared = copy.deepcopy(distiller.avatar_generator).manual_seed(0)
    for row in (rows[0], rows[2]):
        assert torch.equal(row.avatars, shared(row.teacher, step=0))
        assert (row.avatars == 0).float().mean() > 0.05
    # What the distiller itself draws at its first step with that seed.
    distiller.manual_seed(0)
    with torch.no_grad():
        losses = distiller.compute_distill_losses()
    for row in rows:
        value, _ = row.loss.forward_avatars(
            _inputs(row), row.avatars, with_stats=False,
            perturbations=row.generator.perturbations)
        torch.testing.assert_close(value, losses[row.loss_name])
    # N columns: the largest N; the other rows leave their gap empty.
    png = str(tmp_path / 'avatars.png')
    vis_avatars.render(rows, vis_avatars._input_image(data), png)
    assert panel_grid(png) == [6, 8, 6]
    summary = vis_avatars.summary(rows)
    assert summary[1]['avatars'] == (
        "3 Avatar(s): [GaussianNoise(std=0.5, mode='multiplicative')]")
    # --num-avatars sets N of every generator, the loss's own too.
    rows = vis_avatars.draw_rows(model, [data], num_avatars=2, seed=0)
    assert [row.avatars.shape[0] for row in rows] == [2, 2, 2]
    assert loss.avatar_generator.num_avatars == 3


@pytest.mark.parametrize('mode', ['sampled', 'expected'])
def test_sigma_is_the_loss_sigma_of_the_same_draw(mode, image, tmp_path):
    import cv2
    second = str(tmp_path / 'second.png')
    cv2.imwrite(second, cv2.imread(image)[::-1])
    cfg = vis_avatars.load_distill_config(
        AKD_SEG, {'model.distiller.sigma': mode})
    model = vis_avatars.build_model(cfg, seed=0)
    data = [vis_avatars.load_image(p, cfg, 'mmseg') for p in (image, second)]
    (row, ) = vis_avatars.draw_rows(model, data, num_avatars=2, seed=0)
    assert row.loss.sigma == mode and row.sigma_mode == mode
    _, stats = row.loss.forward_avatars(
        _inputs(row), row.avatars, with_stats=True,
        perturbations=row.generator.perturbations)
    torch.testing.assert_close(row.sigma.mean(), stats['sigma'])
    torch.testing.assert_close(row.spread, stats['spread'])
    torch.testing.assert_close(
        row.sigma,
        row.loss.paper_sigma(row.teacher, row.avatars,
                             row.generator.perturbations))
    # U: E_i[(A_i - T)^2] of the two Avatars, or its closed form for
    # element dropout, T^2 p / (1 - p); sigma^2 = E_x[U] + eps E[E_x[U]].
    drawn = ((row.avatars - row.teacher[None])**2).mean(0)
    closed = row.teacher**2 * (0.1 / 0.9)
    u = drawn if mode == 'sampled' else closed
    torch.testing.assert_close(row.sq_diff, u)
    u = u.mean(0, keepdim=True)
    torch.testing.assert_close(row.sigma, (u + 1e-2 * u.mean()).sqrt())
    # The spread is that of the drawn Avatars in both modes.
    torch.testing.assert_close(row.spread, drawn.mean().sqrt())
    assert vis_avatars.summary([row])[0]['sigma_mode'] == mode


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


AKD_3X_SEG = osp.join(
    DIGITS, 'akd-cwd_logits_3x-pspnet-r18w32_pspnet-r18w8_1500i_'
    'digit-scenes.py')


def test_several_teachers_draw_a_row_per_teacher_record(image, tmp_path):
    out = tmp_path / 'all'
    vis_avatars.main([AKD_3X_SEG, '--img', image, '--out', str(out)])
    rows = json.loads((out / 'avatars.json').read_text())['rows']
    assert [r['record'] for r in rows] == ['t0.logits', 't1.logits',
                                           't2.logits']
    # Each teacher's Avatars are its own draws.
    assert len({r['spread'] for r in rows}) == 3


def test_teacher_picks_one_teacher_and_loads_its_checkpoint(
        image, tmp_path, capsys):
    cfg = vis_avatars.load_distill_config(AKD_3X_SEG)
    model = vis_avatars.build_model(cfg, seed=5)
    ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=model.teacher['t1'].state_dict()), ckpt)
    out = tmp_path / 'one'
    vis_avatars.main([AKD_3X_SEG, str(ckpt), '--teacher', 't1', '--img',
                      image, '--out', str(out)])
    summary = json.loads((out / 'avatars.json').read_text())
    assert [r['record'] for r in summary['rows']] == ['t1.logits']
    # The loaded teacher: its record is that of the saved weights.
    loaded = vis_avatars.build_model(cfg, seed=0)
    assert vis_avatars.load_weights(loaded, str(ckpt), 't1') == 'teacher'
    assert torch.equal(loaded.teacher['t1'].decode_head.conv_seg.weight,
                       model.teacher['t1'].decode_head.conv_seg.weight)
    for argv, message in (
            ([str(ckpt)], "--teacher: expected one of the teachers ['t0', "
             "'t1', 't2'], but got None"),
            (['--teacher', 't9'], "expected one of the teachers ['t0', 't1', "
             "'t2'], but got 't9'")):
        with pytest.raises(SystemExit, match=re.escape(message)):
            vis_avatars.main([AKD_3X_SEG, *argv, '--img', image, '--out',
                              str(tmp_path / 'bad')])
    assert not (tmp_path / 'bad').exists()
