"""Nothing of mmakd runs in a process that does not import it.

No start-up hook: ``pip install`` puts no ``.pth`` in site-packages, and a
process that imports torch, mmengine or MMRazor without mmakd imports no
module of mmakd. A process that imports mmakd gets exactly the changes of
docs/process-changes.md. Each check runs in a fresh interpreter.
"""
import os
import os.path as osp
import site
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, build_wheel, install_wheel, run_python
from mmengine.logging import HistoryBuffer, MessageHub


def _out(code: str, *args: str, **env: str) -> str:
    proc = run_python(code, *args, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def _imported_modules(statement: str) -> list:
    """The modules ``python -X importtime -c statement`` reports."""
    proc = run_python(f'import subprocess, sys\n'
                      f'proc = subprocess.run([sys.executable, "-X", '
                      f'"importtime", "-c", {statement!r}], '
                      'capture_output=True, text=True)\n'
                      'assert proc.returncode == 0, proc.stderr\n'
                      'print(proc.stderr)')
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [
        line.rsplit('|', 1)[-1].strip() for line in proc.stdout.splitlines()
        if line.startswith('import time:') and '|' in line
    ]


@pytest.mark.parametrize('statement', ['pass', 'import json', 'import torch'])
def test_no_mmakd_module_at_start_up(statement):
    modules = _imported_modules(statement)
    assert modules, 'importtime printed nothing'
    assert not [m for m in modules if m.startswith('mmakd')], modules


def test_import_mmakd_is_what_imports_it():
    modules = _imported_modules('import mmakd')
    assert 'mmakd_compat' in modules and 'mmakd' in modules


def test_no_pth_of_mmakd_in_site_packages():
    for folder in {*site.getsitepackages(), site.getusersitepackages()}:
        if osp.isdir(folder):
            found = [
                n for n in os.listdir(folder)
                if n.endswith('.pth') and 'mmakd' in n and
                not n.startswith('__editable__')
            ]
            assert found == [], folder


@pytest.fixture
def runner_checkpoint(tmp_path) -> Path:
    """What a Runner checkpoint holds besides tensors."""
    hub = MessageHub.get_instance('startup_hook_test')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 0.5)
    path = tmp_path / 'iter_1.pth'
    torch.save(
        dict(
            meta=dict(seed=np.int64(7), hist=np.arange(3)),
            state_dict=dict(w=torch.ones(2)),
            message_hub=hub.state_dict()), path)
    return path


LOAD = ('import sys, torch\n'
        'ckpt = torch.load(sys.argv[1])\n'
        'buf = ckpt["message_hub"]["log_scalars"]["train/loss"]\n'
        'print(type(buf).__name__, buf.mean(), ckpt["meta"]["seed"],'
        ' list(ckpt["meta"]["hist"]))')


LOAD = ('import sys, torch\n'
        '{first}'
        'ckpt = torch.load(sys.argv[1])\n'
        'buf = ckpt["message_hub"]["log_scalars"]["train/loss"]\n'
        'print(type(buf).__name__, buf.mean(), ckpt["meta"]["seed"],'
        ' list(ckpt["meta"]["hist"]))')


def test_a_runner_checkpoint_loads_once_mmakd_is_imported(runner_checkpoint):
    """torch alone refuses it (nothing of mmakd acts); with mmakd imported
    the allow-list is registered."""
    proc = run_python(LOAD.format(first=''), str(runner_checkpoint))
    assert proc.returncode != 0 and 'Weights only load failed' in proc.stderr
    assert _out(LOAD.format(first='import mmakd\n'), str(runner_checkpoint)) \
        .splitlines()[-1] == \
        'HistoryBuffer 1.0 7 [np.int64(0), np.int64(1), np.int64(2)]'


def test_the_allow_list_is_no_broader(tmp_path):
    """Objects outside the list, and getattr on anything but HistoryBuffer's
    statistics, are refused by torch alone."""
    marker = tmp_path / 'executed'

    class Evil:

        def __reduce__(self):
            return os.system, (f'touch {marker}', )

    evil = tmp_path / 'evil.pth'
    torch.save({'x': Evil()}, evil)
    proc = run_python('import sys, mmakd, torch; torch.load(sys.argv[1])',
                      str(evil))
    assert proc.returncode != 0 and 'system' in proc.stderr
    assert not marker.exists()

    class Getattr:

        def __reduce__(self):
            return getattr, (HistoryBuffer, 'update')

    sneaky = tmp_path / 'sneaky.pth'
    torch.save({'x': Getattr()}, sneaky)
    proc = run_python('import sys, mmakd, torch; torch.load(sys.argv[1])',
                      str(sneaky))
    assert proc.returncode != 0
    assert "mmakd allows only HistoryBuffer's statistics" in proc.stderr


# ----------------------------------------------------------------- the wheel


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> str:
    """mmakd's wheel, built from a copy of the checkout."""
    return build_wheel(tmp_path_factory.mktemp('wheel'))


def test_the_wheel_holds_no_start_up_code(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
    assert not [n for n in names if n.endswith('.pth')]
    assert 'mmakd_compat/__init__.py' in names
    assert 'mmakd/run.py' in names


def test_the_wheel_declares_ranges_and_extras(wheel):
    with zipfile.ZipFile(wheel) as whl:
        meta = whl.read(next(n for n in whl.namelist()
                             if n.endswith('METADATA'))).decode()
    requires = [ln for ln in meta.splitlines() if ln.startswith('Requires')]
    plain = [r for r in requires if 'extra ==' not in r]
    assert any('mmrazor' in r and '<' in r for r in plain), plain
    for name in ('mmengine', 'mmcv', 'mmdet', 'mmsegmentation', 'onedl'):
        assert not any(name in r for r in plain), (name, plain)
    specifiers = [r.split(';')[0] for r in requires]  # no extra markers
    assert not any('==' in s for s in specifiers if ': mm' in s), specifiers
    for extra in ('openmmlab', 'mim', 'onedl'):
        assert f'Provides-Extra: {extra}' in meta


def test_the_wheel_ships_the_configs_and_their_index(wheel):
    """OpenMMLab's layout: configs, tools and model-index.yml in
    ``mmakd/.mim``; every metafile the index imports is there too."""
    import yaml
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        index = yaml.safe_load(whl.read('mmakd/.mim/model-index.yml'))
    repo = Path(REPO_ROOT)
    configs = {
        f'mmakd/.mim/{p.relative_to(repo).as_posix()}'
        for p in (repo / 'configs').rglob('*') if p.is_file()
        and '__pycache__' not in p.parts
    }
    assert configs and configs <= names
    assert 'mmakd/.mim/tools/train.py' in names
    for meta in index['Import']:
        assert f'mmakd/.mim/{meta}' in names, meta
    assert not any('__pycache__' in n for n in names)


#: Where mmakd, mmakd_compat and an ``mmakd::`` name come from.
WHERE = ('import importlib.util, sys, mmakd\n'
         'from mmengine.hub import get_config\n'
         'from mmengine.utils import get_installed_path\n'
         'cfg = get_config(sys.argv[1])\n'
         'print(cfg.filename)\n'
         'print(sys.modules["mmakd"].__file__)\n'
         'print(sys.modules["mmakd_compat"].__file__)\n'
         'print(get_installed_path("mmakd"))\n'
         'print(cfg.model.distiller.type)')
AKD_CWD = 'mmakd::cwd/akd-cwd_fpn_retina-r101_retina-r50_2x_coco.py'


def test_the_installed_wheel_resolves_mmakd_configs(wheel, tmp_path):
    """Installed into a fresh folder, outside the checkout, and imported:
    ``mmakd::`` names resolve to that folder's configs (the editable
    install's finder comes after the folder on ``sys.path``)."""
    site = install_wheel(wheel, tmp_path / 'site')
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    proc = run_python(
        WHERE, AKD_CWD, env={'PYTHONPATH': site}, cwd=str(elsewhere))
    assert proc.returncode == 0, proc.stderr[-3000:]
    config, mmakd, compat, installed, distiller = \
        proc.stdout.strip().splitlines()[-5:]
    package = osp.join(site, 'mmakd')
    assert config == osp.join(package, '.mim', 'configs', 'cwd',
                              'akd-cwd_fpn_retina-r101_retina-r50_2x_coco.py')
    assert not osp.islink(osp.join(package, '.mim', 'configs'))
    assert mmakd == osp.join(package, '__init__.py')
    assert compat == osp.join(site, 'mmakd_compat', '__init__.py')
    assert installed == package
    assert distiller == 'AvatarDistiller'
    assert REPO_ROOT not in proc.stdout
