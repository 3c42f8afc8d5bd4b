"""The installed start-up hook: cheap at start-up, acts only on import.

``mmakd-import-hook.pth`` (in site-packages, written by ``pip install``)
puts :class:`mmakd_compat.CompatFinder` on ``sys.meta_path`` in every
interpreter; ``MMAKD_NO_IMPORT_HOOK=1`` switches it off. A failure of the
hook itself is one warning, never a failed import. Each check runs in a fresh
interpreter.
"""
import os
import os.path as osp
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, build_wheel, install_wheel, run_python
from mmengine.logging import HistoryBuffer, MessageHub

from mmakd_compat import DISABLE_ENV, STARTUP_LINE

STATE = ('import sys\n'
         'heavy = [m for m in ("torch", "numpy", "mmengine", "mmrazor", '
         '"mmakd") if m in sys.modules]\n'
         'hook = [type(f).__name__ for f in sys.meta_path '
         'if type(f).__name__ == "CompatFinder"]\n'
         'print(heavy, hook)')


def _out(code: str, *args: str, **env: str) -> str:
    proc = run_python(code, *args, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def test_the_hook_is_installed_at_startup_without_heavy_imports():
    assert _out(STATE) == "[] ['CompatFinder']"


@pytest.mark.parametrize('value', ['1', 'true', 'yes'])
def test_an_environment_variable_switches_it_off(value):
    assert _out(STATE, **{DISABLE_ENV: value}) == '[] []'


def test_off_values_keep_it_on():
    assert _out(STATE, **{DISABLE_ENV: '0'}) == "[] ['CompatFinder']"


# ------------------------------------------- a failing hook breaks nothing

#: Puts a finder that records what it is asked right after the hook's, so a
#: finder that leaves ``sys.meta_path`` mid-lookup is seen to skip none.
SEEN = ('import sys\n'
        'class Seen:\n'
        '    names = []\n'
        '    def find_spec(self, name, path, target=None):\n'
        '        self.names.append(name)\n'
        'sys.meta_path.insert(1, Seen())\n')
IMPORT_TORCH = ('import torch\n'
                'hook = [f for f in sys.meta_path '
                'if type(f).__name__ == "CompatFinder"]\n'
                'print(torch.__spec__.origin.endswith("torch/__init__.py"), '
                'torch.tensor([1, 2]).sum().item(), "torch" in Seen.names, '
                'hook)')
#: Internal errors of the hook: while registering the allow-list after
#: torch executed, and while looking up a module.
FAILURES = {
    'allow-list': ('import mmakd_compat.checkpoint as c\n'
                   'def fail():\n'
                   '    raise RuntimeError("forced failure")\n'
                   'c.allow_mmengine_checkpoints_on_demand = fail\n'),
    'find_spec': ('import mmakd_compat.mmrazor_torch2 as m\n'
                  'class Names:\n'
                  '    def __contains__(self, name):\n'
                  '        raise RuntimeError("forced failure")\n'
                  'm.GATED_MODULES = Names()\n'),
}
WARNING = "mmakd's start-up hook (mmakd_compat) failed"


@pytest.mark.parametrize('where', sorted(FAILURES))
@pytest.mark.parametrize('warnings', ['default', 'error::RuntimeWarning'])
def test_a_failing_hook_warns_once_and_switches_off(where, warnings):
    """import torch returns the real torch; the hook is gone afterwards,
    also where warnings are errors."""
    proc = run_python(SEEN + FAILURES[where] + IMPORT_TORCH,
                      env={'PYTHONWARNINGS': warnings})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # A failed lookup leaves torch to the next finder, which is asked.
    seen = where == 'find_spec'
    assert proc.stdout.strip() == f'True 3 {seen} []'
    assert proc.stderr.count(WARNING) == 1, proc.stderr
    assert 'RuntimeError: forced failure' in proc.stderr
    assert f'{DISABLE_ENV}=1' in proc.stderr


def test_a_failing_startup_install_warns():
    proc = run_python('import sys, mmakd_compat\n'
                      'def fail():\n'
                      '    raise OSError("forced failure")\n'
                      'mmakd_compat.install = fail\n'
                      'mmakd_compat.install_at_startup()\n'
                      'import torch\n'
                      'print([type(f).__name__ for f in sys.meta_path '
                      'if type(f).__name__ == "CompatFinder"])')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == '[]'
    assert proc.stderr.count(WARNING) == 1, proc.stderr
    assert 'OSError: forced failure' in proc.stderr


def test_a_working_hook_warns_nothing():
    proc = run_python(SEEN + IMPORT_TORCH,
                      env={'PYTHONWARNINGS': 'error::RuntimeWarning'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The hook found torch: the next finder was not asked.
    assert proc.stdout.strip() == \
        'True 3 False [mmakd_compat.CompatFinder()]'
    assert WARNING not in proc.stderr


# ------------------------------------------------------ Runner checkpoints


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


def test_torch_alone_loads_a_runner_checkpoint(runner_checkpoint):
    """As MMRazor's convert_kd_ckpt_to_student.py does: only torch."""
    assert _out(LOAD, str(runner_checkpoint)) == \
        'HistoryBuffer 1.0 7 [np.int64(0), np.int64(1), np.int64(2)]'
    proc = run_python(LOAD, str(runner_checkpoint), env={DISABLE_ENV: '1'})
    assert proc.returncode != 0 and 'Weights only load failed' in proc.stderr


def test_importing_torch_imports_nothing_of_mmengine():
    code = ('import sys, torch\n'
            'print([m for m in sys.modules if m.startswith(("mmengine", '
            '"mmrazor", "mmakd."))])')
    assert _out(code) == '[]'


def test_the_allow_list_is_no_broader(tmp_path):
    """Objects outside the list, and getattr on anything but HistoryBuffer's
    statistics, are refused by torch alone."""
    marker = tmp_path / 'executed'

    class Evil:

        def __reduce__(self):
            return os.system, (f'touch {marker}', )

    evil = tmp_path / 'evil.pth'
    torch.save({'x': Evil()}, evil)
    proc = run_python('import sys, torch; torch.load(sys.argv[1])', str(evil))
    assert proc.returncode != 0 and 'system' in proc.stderr
    assert not marker.exists()

    class Getattr:

        def __reduce__(self):
            return getattr, (HistoryBuffer, 'update')

    sneaky = tmp_path / 'sneaky.pth'
    torch.save({'x': Getattr()}, sneaky)
    proc = run_python('import sys, torch; torch.load(sys.argv[1])',
                      str(sneaky))
    assert proc.returncode != 0
    assert "mmakd allows only HistoryBuffer's statistics" in proc.stderr


# ----------------------------------------------------------------- the wheel


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> str:
    """mmakd's wheel, built from a copy of the checkout."""
    return build_wheel(tmp_path_factory.mktemp('wheel'))


def test_the_wheel_installs_and_records_the_hook(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        record = whl.read(next(n for n in names if n.endswith('RECORD')))
        hook = whl.read('mmakd-import-hook.pth').decode()
    assert 'mmakd-import-hook.pth' in names  # site-packages, for pip
    assert b'mmakd-import-hook.pth' in record  # removed by pip uninstall
    assert 'mmakd_compat/__init__.py' in names
    assert hook == STARTUP_LINE + '\n'
    assert not (Path(REPO_ROOT) / 'mmakd-import-hook.pth').exists()
    assert len(hook.strip().splitlines()) == 1


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
WHERE = ('import importlib.util, sys\n'
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
    """Installed into a fresh folder, outside the checkout: ``mmakd::``
    names resolve to that folder's configs (the editable install's finder
    comes after the folder on ``sys.path``)."""
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
