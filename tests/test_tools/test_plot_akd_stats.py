"""plot_akd_stats.py on synthetic mmengine logs; the TensorBoard switch."""
import json
import os.path as osp
import sys

import pytest
from helpers import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
import plot_akd_stats  # noqa: E402


def write_run(work_dir, stats: bool = True, timestamp='20261128_090000'):
    """A work dir as mmengine leaves it: <timestamp>/vis_data/scalars.json,
    with train records every 10 iterations and two validations."""
    vis = work_dir / timestamp / 'vis_data'
    vis.mkdir(parents=True)
    lines = []
    for step in range(10, 101, 10):
        record = {'lr': 1e-3, 'loss': 2.0 / step, 'student.loss_cls': 1.0,
                  'distill.loss_cwd_fpn0': 5.0 / step,
                  'distill.loss_cwd_fpn1': 4.0 / step, 'step': step}
        if stats:
            record.update({'distill.akd_sigma.cwd_fpn0': 0.2,
                           'distill.akd_sigma.cwd_fpn1': 0.1,
                           'distill.akd_spread.cwd_fpn0': 0.3,
                           'distill.akd_spread.cwd_fpn1': 0.15})
        lines.append(json.dumps(record))
        if step % 50 == 0:
            lines.append(json.dumps({'coco/bbox_mAP': step / 200,
                                     'step': step}))
    (vis / 'scalars.json').write_text('\n'.join(lines) + '\n')
    return work_dir


def test_losses_sigma_and_spread_of_several_runs(tmp_path):
    akd = write_run(tmp_path / 'cwd+akd')
    cwd = write_run(tmp_path / 'cwd', stats=False)
    out = tmp_path / 'stats.png'
    drawn = plot_akd_stats.plot_stats([str(akd), str(cwd)], str(out),
                                      labels=['CWD + AKD', 'CWD'])
    assert drawn == sorted([
        'distill.loss_cwd_fpn0', 'distill.loss_cwd_fpn1',
        'distill.akd_sigma.cwd_fpn0', 'distill.akd_sigma.cwd_fpn1',
        'distill.akd_spread.cwd_fpn0', 'distill.akd_spread.cwd_fpn1'
    ])
    assert out.stat().st_size > 0
    # Student losses, the metric and lr are not what this tool draws.
    assert not any('student' in k or 'mAP' in k or k == 'lr' for k in drawn)


def test_panels_sort_keys_into_rows_and_levels():
    panels = plot_akd_stats.select([
        'distill.loss_cwd_fpn0', 'distill.akd_sigma.cwd_fpn0',
        'distill.akd_sigma_1.fgd', 'distill.akd_spread.cwd_fpn0',
        'student.loss_cls', 'loss'
    ])
    assert panels == {
        ('distill loss', 'cwd_fpn0'): 'distill.loss_cwd_fpn0',
        ('sigma (mean)', 'cwd_fpn0'): 'distill.akd_sigma.cwd_fpn0',
        ('sigma (mean)', 'fgd_1'): 'distill.akd_sigma_1.fgd',
        ('spread (RMS of A - T)', 'cwd_fpn0'): 'distill.akd_spread.cwd_fpn0',
    }


def test_newest_run_of_a_work_dir_and_chosen_keys(tmp_path):
    run = write_run(tmp_path / 'run', timestamp='20261128_080000')
    (run / '20261128_090000' / 'vis_data').mkdir(parents=True)
    newest = run / '20261128_090000' / 'vis_data' / 'scalars.json'
    newest.write_text(json.dumps({'grad_norm': 1.0, 'step': 1}) + '\n')
    assert plot_akd_stats.find_scalars(str(run)) == str(newest)
    drawn = plot_akd_stats.plot_stats([str(run)], str(tmp_path / 'g.png'),
                                      keys='grad_norm')
    assert drawn == ['grad_norm']


def test_cli_and_its_errors(tmp_path, capsys):
    run = write_run(tmp_path / 'run')
    plot_akd_stats.main([str(run)])
    assert (run / 'akd_stats.png').exists()
    assert 'akd_stats.png' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='no vis_data/scalars.json'):
        plot_akd_stats.main([str(tmp_path / 'nothing')])
    out = tmp_path / 'none.png'
    with pytest.raises(SystemExit) as exc:
        plot_akd_stats.main([str(run), '--keys', 'akd_gamma', '--out',
                             str(out)])
    assert "keys matching 'akd_gamma'" in str(exc.value)
    assert "'distill.akd_sigma.cwd_fpn0'" in str(exc.value)  # what exists
    assert not out.exists()
    with pytest.raises(SystemExit):
        plot_akd_stats.parse_args([str(run), '--labels', 'a', 'b'])


def test_tensorboard_backend_writes_events(tmp_path):
    """docs/tools.md's one-line switch: mmengine's TensorboardVisBackend."""
    pytest.importorskip('tensorboard')
    from mmengine.visualization import Visualizer
    visualizer = Visualizer(
        name='akd_tensorboard_test',
        vis_backends=[
            dict(type='LocalVisBackend'),
            dict(type='TensorboardVisBackend')
        ],
        save_dir=str(tmp_path))
    visualizer.add_scalars({'distill.akd_sigma.cwd': 0.2}, step=1)
    visualizer.close()
    assert list((tmp_path / 'vis_data').glob('events.out.tfevents.*'))
    assert plot_akd_stats.plot_stats(
        [str(tmp_path)], str(tmp_path / 's.png')) == [
            'distill.akd_sigma.cwd'
        ]
