"""The Digit Scenes configs run with mmdet's and mmseg's own tools.

Every config under ``projects/digit_scenes/configs/`` (models alone and
distillations) imports mmakd through ``custom_imports``, so
``tools/train.py`` of mmdet, mmseg, MMRazor or mmakd runs it as it is. Each
distillation names as its default ``teacher_ckpt`` the file that ``python
tools/train.py <teacher config>`` writes, and its teacher is that config's
model.
"""
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'projects' / 'digit_scenes' / 'configs'
MMAKD_IMPORT = dict(imports=['mmakd'], allow_failed_imports=False)


def _configs() -> List[Path]:
    return sorted(CONFIGS.glob('*.py'))


def _distillations() -> List[Path]:
    return [
        p for p in _configs()
        if {'teacher', 'teachers'} & set(Config.fromfile(p).model)
    ]


def _teachers(cfg: Config) -> Dict[str, Any]:
    """(name, model config, checkpoint) of each teacher: ``teacher`` of a
    one-teacher distillation (name None), else each of ``teachers``."""
    if 'teacher' in cfg.model:
        return {None: (cfg.model.teacher, cfg.model.teacher_ckpt)}
    return {
        name: ({
            k: v
            for k, v in entry.items() if k != 'ckpt'
        }, entry.ckpt)
        for name, entry in cfg.model.teachers.items()
    }


def _default_work_dir(config: Path) -> str:
    """tools/train.py's work_dir when neither ``--work-dir`` nor the config
    sets one (mmdet's, mmseg's, MMRazor's and mmakd's alike)."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])


def _checkpoint_written(cfg: Config) -> str:
    """The checkpoint an iteration-based run of ``cfg`` leaves at its end.

    mmengine's CheckpointHook names it ``iter_<iteration>.pth`` and, with
    ``save_last`` (the default), saves the last iteration whatever the
    interval; ``max_keep_ckpts`` removes only older ones.
    """
    assert cfg.train_cfg.type == 'IterBasedTrainLoop', cfg.train_cfg
    hook = cfg.default_hooks.checkpoint
    assert hook.type == 'CheckpointHook' and hook.by_epoch is False, hook
    assert hook.get('save_last', True), hook
    assert 'filename_tmpl' not in hook, hook
    return f'iter_{cfg.train_cfg.max_iters}.pth'


def _without_scope(model: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in model.items() if k != '_scope_'}


def test_there_are_distillations_and_models_alone():
    distillations = _distillations()
    assert len(distillations) >= 6, distillations
    assert len(_configs()) > len(distillations)


@pytest.mark.parametrize('path', _configs(), ids=lambda p: p.name)
def test_config_imports_mmakd(path):
    cfg = Config.fromfile(path)
    assert cfg.get('custom_imports') == MMAKD_IMPORT, \
        f'{path.name}: custom_imports = {cfg.get("custom_imports")}'


@pytest.mark.parametrize('path', _distillations(), ids=lambda p: p.name)
def test_default_teacher_ckpt_is_what_train_py_writes(path):
    """The first teacher's default checkpoint is where tools/train.py
    writes it; teacher ``t<k>`` (k > 0) of a multi-teacher config is the
    same config trained with seed k into ``<that work dir>_seed<k>``."""
    cfg = Config.fromfile(path)
    for position, (name, (teacher, ckpt)) in enumerate(_teachers(cfg).items()):
        work_dir = osp.basename(osp.dirname(ckpt))
        teacher_name = work_dir if position == 0 else \
            work_dir[:-len(f'_seed{position}')]
        teacher_config = CONFIGS / f'{teacher_name}.py'
        assert teacher_config.is_file(), \
            f'{path.name}: teacher {name} ckpt {ckpt} names no config here'

        teacher_cfg = Config.fromfile(teacher_config)
        expected = osp.join(
            _default_work_dir(teacher_config) +
            (f'_seed{position}' if position else ''),
            _checkpoint_written(teacher_cfg))
        assert osp.normpath(ckpt) == osp.normpath(expected), (ckpt, expected)
        if position:
            assert name == f't{position}', name
        # The checkpoint fits: the distillation's teacher is that config's
        # model (mmakd loads teacher checkpoints strictly).
        assert _without_scope(dict(teacher)) == \
            _without_scope(teacher_cfg.model.to_dict())


def _package_tool(package: str, tool: str) -> Path:
    """A tool shipped inside a package's wheel (``<pkg>/.mim/tools``)."""
    return Path(__import__(package).__file__).parent / '.mim' / 'tools' / tool


@pytest.mark.slow
@pytest.mark.parametrize('package,config', [
    ('mmdet', 'retinanet_r18-w8_fpn_1500i_digit-scenes.py'),
    ('mmdet', 'akd-fgd_fpn_retina-r18w32_retina-r18w8_1500i_digit-scenes.py'),
    ('mmseg',
     'akd-cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_digit-scenes.py'),
])
def test_the_packages_own_train_py_runs_it(package, config, data_root,
                                           tmp_path):
    """Two iterations with mmdet's / mmseg's packaged tools/train.py."""
    cfg = Config.fromfile(CONFIGS / config)
    options = [
        f'{split}_dataloader.dataset.data_root={data_root}/'
        for split in ('train', 'val', 'test')
    ] + [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2'
    ]
    if 'ann_file' in cfg.val_evaluator:
        ann = f'{data_root}/annotations/instances_val.json'
        options += [f'{s}_evaluator.ann_file={ann}' for s in ('val', 'test')]
    if 'teacher' in cfg.model:
        options.append('model.teacher_ckpt=None')
    proc = subprocess.run([
        sys.executable,
        str(_package_tool(package, 'train.py')),
        str(CONFIGS / config), '--work-dir',
        str(tmp_path), '--cfg-options', *options
    ],
                          cwd=str(REPO),
                          env={
                              **os.environ, 'OMP_NUM_THREADS': '1'
                          },
                          capture_output=True,
                          text=True,
                          timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    assert (tmp_path / 'iter_2.pth').is_file()
    if 'teacher' in cfg.model:
        assert 'distill.loss' in output
