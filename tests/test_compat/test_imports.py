"""``import mmakd`` makes MMRazor importable on torch 2.x, in any import
order, and replaces no entry of another package's registries.

The import-order tests run in fresh interpreters: in this process ``mmakd``
(and so the fix) is already loaded, which would mask a failure.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import (ON_ONEDL_FORKS, TESTS_DATA, TOY_KD_CONFIG,  # noqa: E402
                     run_python, skip_on_onedl_forks)

from mmakd_compat import mmrazor_torch2, report  # noqa: E402

needs_fix = pytest.mark.skipif(
    not mmrazor_torch2.affected(),
    reason='the installed torch imports MMRazor 1.0.0 unfixed')


def _ok(proc) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


#: On the forks MMRazor 1.0.0 stops at its mmcv gate before its torch gate.
MMCV_GATE_FIRST = 'MMRazor 1.0.0 stops at its mmcv version gate first ' \
    '(test_plain_mmrazor_import_fails_at_the_mmcv_gate_on_the_forks)'


@needs_fix
@skip_on_onedl_forks(MMCV_GATE_FIRST)
def test_plain_mmrazor_models_import_fails_without_mmakd():
    """Proves the fix is needed: MMRazor 1.0.0 as shipped breaks on torch 2,
    and nothing of mmakd acts in a process that does not import it."""
    proc = run_python('import mmrazor.models')
    assert proc.returncode != 0
    assert 'ImportError' in proc.stderr
    assert 'torch>=1.13' in proc.stderr


@pytest.mark.skipif(not ON_ONEDL_FORKS,
                    reason='OpenMMLab\'s mmcv 2.1.0 meets the gate')
def test_plain_mmrazor_import_fails_at_the_mmcv_gate_on_the_forks():
    """Proves the gate fix is needed on the ONEDL forks."""
    proc = run_python('import mmrazor')
    assert proc.returncode != 0
    assert 'is used but incompatible' in proc.stderr
    assert 'mmcv>=2.0.0rc1, <=2.1.0' in proc.stderr


def test_import_mmakd_then_mmrazor_models():
    out = _ok(
        run_python('import sys, mmakd\n'
                   'assert "mmrazor.models" in sys.modules\n'
                   'from mmrazor.models import ConfigurableDistiller\n'
                   'from mmrazor.models.losses import ChannelWiseDivergence\n'
                   'print("ok")'))
    assert out.strip().endswith('ok')


@needs_fix
def test_mmakd_imported_after_a_failed_mmrazor_import_fixes_it():
    """A user who hit the ImportError can still import mmakd and go on."""
    out = _ok(
        run_python(
            'try:\n'
            '    import mmrazor.models\n'
            'except (ImportError, AssertionError):  # torch gate, mmcv gate\n'
            '    print("failed first")\n'
            'else:\n'
            '    raise SystemExit("the unfixed import should fail")\n'
            'import mmakd, mmrazor.models\n'
            'from mmrazor.registry import MODELS\n'
            'print(MODELS.get("MMAKDSingleTeacherDistill").__module__)'))
    # (onedl-mmdetection prints a line of its own on import, in between.)
    words = out.split()
    assert words[:2] == ['failed', 'first']
    assert words[-1] == 'mmakd.models.algorithms.strict_teacher'


@pytest.mark.parametrize('name', ['SingleTeacherDistill', 'FpnTeacherDistill'])
def test_mmrazor_names_build_mmrazor_classes_and_mmakds_its_own(name):
    from mmrazor.models import algorithms as razor_algorithms
    from mmrazor.registry import MODELS

    from mmakd.models import algorithms as akd_algorithms

    assert MODELS.get(name) is getattr(razor_algorithms, name)
    ours = MODELS.get(f'MMAKD{name}')
    assert ours is getattr(akd_algorithms, f'MMAKD{name}')
    assert issubclass(ours, getattr(razor_algorithms, name))
    assert MODELS.get(f'mmrazor.MMAKD{name}') is ours


def test_fgd_is_registered_under_mmakds_name_only():
    from mmrazor.registry import MODELS

    from mmakd.models.losses import FGDLoss
    assert MODELS.get('MMAKDFGDLoss') is FGDLoss
    assert MODELS.get('FGDLoss') is not FGDLoss  # MMRazor's, if it has one


#: Every entry of mmengine's, mmdet's, mmseg's and MMRazor's registries,
#: before and after ``import mmakd``. MMRazor 1.0.0 needs the torch-2 fix to
#: import at all: only that fix (mmakd_compat, which registers nothing) is
#: applied before the first snapshot.
SNAPSHOT = '''
import sys, mmakd_compat
mmakd_compat.import_mmrazor()
import mmengine.registry as engine
import mmdet.registry as det, mmseg.registry as seg, mmrazor.registry as razor
from mmdet.utils import register_all_modules as det_all
from mmseg.utils import register_all_modules as seg_all
from mmrazor.utils import register_all_modules as razor_all
det_all(False); seg_all(False); razor_all(False)
from mmengine.registry import Registry
def entries():
    found = {}
    for module in (engine, det, seg, razor):
        for name, registry in vars(module).items():
            if isinstance(registry, Registry):
                for key, cls in registry.module_dict.items():
                    found[(module.__name__, name, key)] = cls
    return found
before = entries()
assert 'mmakd' not in sys.modules
import mmakd
after = entries()
changed = [k for k in before if after.get(k) is not before[k]]
added = sorted(f'{k[0]}.{k[1]}:{k[2]}' for k in after if k not in before)
print(len(before), 'entries', 'changed:', changed)
print('added:', ' '.join(added))
'''


def test_import_mmakd_replaces_no_registry_entry():
    out = _ok(run_python(SNAPSHOT)).strip().splitlines()
    count, changed = out[-2].split(' entries changed: ')
    assert int(count) > 1000  # the four packages' registries were read
    assert changed == '[]'
    added = out[-1].split()[1:]
    assert 'mmrazor.registry.MODELS:AvatarDistiller' in added
    assert 'mmrazor.registry.MODELS:MMAKDSingleTeacherDistill' in added
    assert all(a.startswith('mmrazor.registry.') for a in added), added


def test_the_fixes_say_what_they_did():
    states = {s.name: s.state for s in report()}
    assert set(states) >= {
        'mmrazor-torch2-gate', 'mmrazor-mmcv-gate-onedl',
        'torch-weights-only', 'mmakd-config-names',
        'mmakd-editable-configs', 'mmseg-configs-onedl'
    }
    if mmrazor_torch2.affected():
        assert states['mmrazor-torch2-gate'] == 'applied'
    out = _ok(run_python('import runpy; runpy.run_module("mmakd_compat", '
                         'run_name="__main__")'))
    assert 'mmrazor-torch2-gate' in out
    assert 'docs/process-changes.md' in out


def test_import_mmakd_leaves_no_finder_on_sys_meta_path():
    out = _ok(
        run_python('import sys\n'
                   'before = list(sys.meta_path)\n'
                   'import mmakd\n'
                   'print([repr(f) for f in sys.meta_path if f not in '
                   'before and type(f).__module__.startswith("mmakd")])'))
    assert out.strip().splitlines()[-1] == '[]'


@needs_fix
def test_a_changed_gate_is_one_warning_naming_the_fix():
    """MMRazor 1.0.0 whose gate text is gone (simulated): one warning names
    mmakd, the fix and the page; MMRazor's own error follows."""
    code = (
        'import warnings\n'
        'warnings.simplefilter("always")\n'
        'import mmakd_compat.mmrazor_torch2 as fix\n'
        'fix.module_source = lambda name: "changed upstream"\n'
        'try:\n'
        '    import mmakd\n'
        'except ImportError as error:\n'
        '    print("ImportError", error)\n')
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [ln for ln in proc.stderr.splitlines()
                if 'RuntimeWarning: mmakd:' in ln]
    assert len(warnings) == 1, proc.stderr[-3000:]
    assert "its fix 'mmrazor-torch2-gate' cannot apply" in warnings[0]
    assert 'docs/process-changes.md' in warnings[0]
    assert 'torch>=1.13' in proc.stdout


def test_custom_imports_config_builds_after_only_mmengine_and_mmdet():
    """What mmdet's tools/train.py does: no mmakd/MMRazor import before the
    config, whose ``custom_imports`` bring mmakd; ``_scope_='mmrazor'``."""
    code = '\n'.join([
        'import sys',
        'from mmengine.config import Config',
        'from mmengine.registry import MODELS',
        'from mmdet.registry import RUNNERS  # as mmdet tools/test.py',
        'from mmdet.utils import register_all_modules',
        'register_all_modules()',
        'assert "mmakd" not in sys.modules',
        'assert "mmrazor.models" not in sys.modules',
        'cfg = Config.fromfile(sys.argv[1])',
        'assert cfg.custom_imports.imports[0] == "mmakd"',
        'assert cfg.model._scope_ == "mmrazor"',
        'model = MODELS.build(cfg.model)',
        'print(type(model).__module__, type(model).__name__)',
    ])
    out = _ok(run_python(code, TOY_KD_CONFIG, env={'PYTHONPATH': TESTS_DATA}))
    assert out.split()[-2:] == [
        'mmakd.models.algorithms.strict_teacher', 'MMAKDSingleTeacherDistill'
    ]
