"""The student leaves a distillation run as a plain mmdet/mmseg model.

MMRazor's own packaged ``train.py`` trains Digit Scenes AKD configs for two
iterations through mmakd's launcher, ``python -m mmakd.run`` (MMRazor imports
its models before it reads the config's ``custom_imports``, which fails on
torch 2.x unless mmakd is imported first). Its
``convert_kd_ckpt_to_student.py``, ``test.py`` and
``feature_visualization.py`` then run on the result, through the same
launcher, and ``tools/model_converters/export_student.py`` exports the
student, which mmdet's and mmseg's inference APIs load, without mmakd, and
which predicts what the student inside the distillation model predicts.
"""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
from helpers import ON_ONEDL_FORKS, REPO_ROOT, run_python

MMRAZOR_TOOLS = Path(__import__('mmrazor').__file__).parent / '.mim' / 'tools'
CONFIGS = Path(REPO_ROOT) / 'projects' / 'digit_scenes' / 'configs'
DET_AKD = CONFIGS / ('akd-cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                     'digit-scenes.py')
SEG_AKD = CONFIGS / ('akd-cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_'
                     'digit-scenes.py')
EXPORT = osp.join(REPO_ROOT, 'tools', 'model_converters', 'export_student.py')
#: Another package's script, with mmakd imported first.
LAUNCH = [sys.executable, '-m', 'mmakd.run']
#: A process in which nothing of mmakd is present (no variable is needed:
#: mmakd runs nothing at start-up).
WITHOUT_MMAKD: Dict[str, str] = {}
#: How MMRazor 1.0.0 stops without mmakd's fixes: at its torch gate; on the
#: ONEDL forks before that, at its mmcv gate.
UNFIXED_MMRAZOR_FAILS = 'is used but incompatible' if ON_ONEDL_FORKS \
    else 'torch>=1.13'


def _run_raw(cmd: List[str],
             env: Dict[str, str] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        cwd=REPO_ROOT,
        env={
            **os.environ, 'OMP_NUM_THREADS': '1',
            **(env or {})
        },
        capture_output=True,
        text=True,
        timeout=600)


def _run(cmd: List[str], env: Dict[str, str] = None) -> str:
    proc = _run_raw(cmd, env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    return output


def _data_options(root: str, task: str) -> List[str]:
    opts = [
        f'{split}_dataloader.dataset.data_root={root}/'
        for split in ('train', 'val', 'test')
    ]
    if task == 'det':
        ann = f'{root}/annotations/instances_val.json'
        opts += [f'{s}_evaluator.ann_file={ann}' for s in ('val', 'test')]
    return opts


def _razor_train(config: Path, task: str, data_root: str,
                 work_dir: Path) -> Path:
    """MMRazor's packaged train.py, 2 iterations, no teacher checkpoint."""
    _run([
        *LAUNCH,
        str(MMRAZOR_TOOLS / 'train.py'),
        str(config), '--work-dir',
        str(work_dir), '--cfg-options', 'model.teacher_ckpt=None',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
        *_data_options(data_root, task)
    ])
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.is_file()
    return checkpoint


@pytest.fixture(scope='module')
def det_ckpt(data_root, tmp_path_factory) -> Path:
    return _razor_train(DET_AKD, 'det', data_root,
                        tmp_path_factory.mktemp('det'))


@pytest.fixture(scope='module')
def seg_ckpt(data_root, tmp_path_factory) -> Path:
    return _razor_train(SEG_AKD, 'seg', data_root,
                        tmp_path_factory.mktemp('seg'))


@pytest.mark.slow
def test_mmrazor_train_py_writes_an_akd_checkpoint(det_ckpt):
    checkpoint = torch.load(det_ckpt, map_location='cpu')
    keys = checkpoint['state_dict']
    assert any(k.startswith('architecture.') for k in keys)
    assert any(k.startswith('teacher.') for k in keys)
    log = next(det_ckpt.parent.glob('*/*.log')).read_text()
    assert 'distill.loss_cwd_fpn0' in log  # the distillation ran
    assert 'distill.akd_sigma.cwd_fpn0' in log  # with Avatars


@pytest.mark.slow
def test_mmrazor_convert_kd_ckpt_to_student(det_ckpt, tmp_path):
    """A torch-only script loads the Runner checkpoint (weights_only)."""
    _run([
        *LAUNCH,
        str(MMRAZOR_TOOLS / 'model_converters' /
            'convert_kd_ckpt_to_student.py'),
        str(det_ckpt), '--out-path',
        str(tmp_path)
    ])
    student = torch.load(tmp_path / 'iter_2_student.pth')['state_dict']
    source = torch.load(det_ckpt)['state_dict']
    assert student and all(
        torch.equal(v, source[f'architecture.{k}'])
        for k, v in student.items())


@pytest.mark.slow
def test_mmrazor_test_py_on_the_distillation_checkpoint(
        det_ckpt, data_root, tmp_path):
    out = _run([
        *LAUNCH,
        str(MMRAZOR_TOOLS / 'test.py'),
        str(DET_AKD),
        str(det_ckpt), '--work-dir',
        str(tmp_path), '--cfg-options', 'model.teacher_ckpt=None',
        *_data_options(data_root, 'det')
    ])
    assert 'Iter(test) [' in out


@pytest.mark.slow
def test_the_launcher_is_what_makes_mmrazor_train_py_work(tmp_path):
    proc = _run_raw([
        sys.executable,
        str(MMRAZOR_TOOLS / 'train.py'),
        str(DET_AKD), '--work-dir',
        str(tmp_path), '--cfg-options', 'model.teacher_ckpt=None'
    ], WITHOUT_MMAKD)
    assert proc.returncode != 0
    assert UNFIXED_MMRAZOR_FAILS in proc.stderr


def _export(config: Path, checkpoint: Path, out: Path) -> Dict[str, Path]:
    _run([sys.executable, EXPORT, str(config), str(checkpoint), '--out',
          str(out)])
    files = {p.suffix: p for p in out.iterdir()}
    assert set(files) == {'.py', '.pth'}
    return files


#: Predicts one image with mmdet's / mmseg's inference API and saves it.
PREDICT = '''
import sys, torch
config, checkpoint, image, task, out = sys.argv[1:6]
if task == 'det':
    from mmdet.apis import inference_detector as infer, init_detector as init
else:
    from mmseg.apis import inference_model as infer, init_model as init
from mmengine.config import Config
cfg = Config.fromfile(config)
if 'architecture' in cfg.model:  # the distillation model, student inside
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint
    init_default_scope(cfg.default_scope)
    cfg.model.teacher_ckpt = None
    model = MODELS.build(cfg.model)
    meta = load_checkpoint(model, checkpoint, map_location='cpu')['meta']
    model.dataset_meta, model.cfg = meta['dataset_meta'], cfg
    model.eval()
else:
    model = init(cfg, checkpoint, device='cpu')
result = infer(model, image)
if task == 'det':
    p = result.pred_instances
    pred = dict(bboxes=p.bboxes, scores=p.scores, labels=p.labels)
else:
    pred = dict(seg=result.pred_sem_seg.data, logits=result.seg_logits.data)
pred['classes'] = list(model.dataset_meta['classes'])
pred['mmakd'] = sorted(m for m in sys.modules if m.split('.')[0] == 'mmakd')
pred['mmakd'] += [type(f).__name__ for f in sys.meta_path
                  if type(f).__name__ == 'CompatFinder']
torch.save(pred, out)
'''


def _predict(config, checkpoint, image, task, out, env=None) -> Dict:
    proc = run_python(
        PREDICT,
        str(config),
        str(checkpoint),
        image,
        task,
        str(out),
        env={
            'OMP_NUM_THREADS': '1',
            **(env or {})
        })
    assert proc.returncode == 0, proc.stderr[-5000:]
    return torch.load(out)


def _val_image(data_root: str) -> str:
    with open(osp.join(data_root, 'annotations', 'instances_val.json')) as f:
        name = json.load(f)['images'][0]['file_name']
    return osp.join(data_root, 'images', 'val', osp.basename(name))


@pytest.mark.slow
@pytest.mark.parametrize('task', ['det', 'seg'])
def test_exported_student_predicts_as_inside_the_distiller(
        task, request, data_root, tmp_path):
    checkpoint = request.getfixturevalue(f'{task}_ckpt')
    config = DET_AKD if task == 'det' else SEG_AKD
    files = _export(config, checkpoint, tmp_path / 'export')
    image = _val_image(data_root)
    alone = _predict(files['.py'], files['.pth'], image, task,
                     tmp_path / 'alone.pth', WITHOUT_MMAKD)
    inside = _predict(config, checkpoint, image, task,
                      tmp_path / 'inside.pth')
    assert alone.pop('mmakd') == [] and inside.pop('mmakd')
    assert alone.keys() == inside.keys()
    for key, value in alone.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, inside[key]), key
        else:
            assert value == inside[key], key
    # A plain config and a checkpoint that torch reads with no allow-list.
    text = files['.py'].read_text()
    assert 'mmakd' not in text and 'teacher' not in text
    assert 'mmrazor' not in text and 'distiller' not in text
    proc = run_python(
        'import sys, torch\n'
        'ckpt = torch.load(sys.argv[1], weights_only=True)\n'
        'print(sorted(ckpt), len(ckpt["state_dict"]))',
        str(files['.pth']),
        env=WITHOUT_MMAKD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[:2] == ["['meta',", "'state_dict']"]


@pytest.mark.slow
@pytest.mark.parametrize('tool', [
    'visualizations/feature_visualization.py',
    'visualizations/feature_diff_visualization.py'
])
def test_mmrazor_visualisers_start(tool):
    """They import ``mmrazor.models`` at their top: without the launcher
    they stop there on torch 2.x."""
    assert 'usage' in _run([*LAUNCH, str(MMRAZOR_TOOLS / tool), '-h'])
    proc = _run_raw([sys.executable, str(MMRAZOR_TOOLS / tool), '-h'],
                    WITHOUT_MMAKD)
    assert proc.returncode != 0 and UNFIXED_MMRAZOR_FAILS in proc.stderr


# ------------------------------------------- export and guard, in process


def _load_export_tool():
    spec = importlib.util.spec_from_file_location('mmakd_tools_export', EXPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


export_tool = _load_export_tool()


def _distill_cfg(path: Path):
    from mmengine.config import Config
    cfg = Config.fromfile(str(path))
    cfg.model.teacher_ckpt = None
    return cfg


@pytest.fixture(scope='module')
def seg_model():
    """The Digit Scenes segmentation AKD model, random weights."""
    from mmrazor.registry import MODELS
    return MODELS.build(_distill_cfg(SEG_AKD).model)


@pytest.fixture
def seg_kd_file(seg_model, tmp_path) -> Path:
    """A distillation checkpoint with numpy metadata, as a Runner writes."""
    path = tmp_path / 'kd.pth'
    torch.save(
        dict(
            state_dict=seg_model.state_dict(),
            meta=dict(
                seed=np.int64(3),
                dataset_meta=dict(classes=('background', '1')),
                stats=np.arange(2))), path)
    return path


def test_export_writes_a_plain_student(seg_model, seg_kd_file, tmp_path):
    cfg_file, ckpt_file = export_tool.export_student(
        _distill_cfg(SEG_AKD), str(seg_kd_file), str(tmp_path / 'out'))
    ckpt = torch.load(ckpt_file, weights_only=True)
    student = seg_model.architecture.state_dict()
    assert ckpt['state_dict'].keys() == student.keys()
    assert all(
        torch.equal(v, student[k]) for k, v in ckpt['state_dict'].items())
    assert ckpt['meta']['seed'] == 3 and type(ckpt['meta']['seed']) is int
    assert ckpt['meta']['stats'] == [0, 1]
    assert ckpt['meta']['exported_from'] == str(seg_kd_file)
    from mmengine.config import Config
    exported = Config.fromfile(cfg_file)
    assert exported.default_scope == 'mmseg'
    assert exported.model.type == 'EncoderDecoder'
    assert 'teacher_ckpt' not in exported and 'custom_imports' not in exported
    # AKD's hooks act on the distiller: not the student's.
    assert 'custom_hooks' not in exported and 'akd_hooks' not in exported


def test_export_keeps_the_students_own_hooks():
    cfg = _distill_cfg(SEG_AKD)
    ema = dict(type='EMAHook', momentum=0.0002)
    cfg.custom_hooks = [ema, *cfg.custom_hooks,
                        dict(type='mmrazor.StopDistillHook', stop_epoch=2)]
    exported = export_tool.student_config(cfg)
    assert exported.custom_hooks == [ema]


def _cli(*argv: str, capsys) -> str:
    assert export_tool.main([str(a) for a in argv]) == 2
    return capsys.readouterr().err


def test_export_refuses_an_existing_directory(seg_kd_file, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    err = _cli(SEG_AKD, seg_kd_file, '--out', out, capsys=capsys)
    assert f'--out {out} exists' in err and '--force' in err
    assert list(out.iterdir()) == []
    assert export_tool.main(
        [str(SEG_AKD), str(seg_kd_file), '--out', str(out), '--force',
         '--cfg-options', 'model.teacher_ckpt=None']) == 0
    assert len(list(out.iterdir())) == 2


def test_export_refuses_a_config_without_a_student(seg_kd_file, tmp_path,
                                                   capsys):
    out = tmp_path / 'out'
    err = _cli(CONFIGS / 'pspnet_r18-w8-d4_1500i_digit-scenes.py',
               seg_kd_file, '--out', out, capsys=capsys)
    assert '`model.architecture` (the student) is missing' in err
    assert not out.exists()


def test_export_refuses_a_plain_checkpoint(seg_model, tmp_path, capsys):
    plain = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=seg_model.architecture.state_dict()), plain)
    out = tmp_path / 'out'
    err = _cli(SEG_AKD, plain, '--out', out, capsys=capsys)
    assert 'is not a distillation checkpoint' in err and 'backbone.' in err
    assert not out.exists()


def test_export_refuses_a_student_of_another_architecture(
        seg_kd_file, tmp_path, capsys):
    out = tmp_path / 'out'
    err = _cli(DET_AKD, seg_kd_file, '--out', out, capsys=capsys)
    assert 'do not fit the student of the config (RetinaNet)' in err
    assert not out.exists()
