"""mmakd_compat makes MMRazor importable on torch 2.x, in any import order.

The import-order tests run in fresh interpreters: in this process ``mmakd``
(and so the fix) is already loaded, which would mask a failure.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import (ON_ONEDL_FORKS, TESTS_DATA, TOY_KD_CONFIG,  # noqa: E402
                     run_python, skip_on_onedl_forks)

from mmakd_compat import DISABLE_ENV, mmrazor_torch2  # noqa: E402

needs_fix = pytest.mark.skipif(
    not mmrazor_torch2.needs_fix(),
    reason='the installed torch imports MMRazor 1.0.0 unfixed')


def _ok(proc) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


NO_HOOK = {DISABLE_ENV: '1'}


#: On the forks MMRazor 1.0.0 stops at its mmcv gate before its torch gate.
MMCV_GATE_FIRST = 'MMRazor 1.0.0 stops at its mmcv version gate first ' \
    '(test_plain_mmrazor_import_fails_at_the_mmcv_gate_on_the_forks)'


@needs_fix
@skip_on_onedl_forks(MMCV_GATE_FIRST)
def test_plain_mmrazor_models_import_fails_without_mmakd():
    """Proves the fix is needed: MMRazor 1.0.0 as shipped breaks on torch 2
    (the start-up hook switched off)."""
    proc = run_python('import mmrazor.models', env=NO_HOOK)
    assert proc.returncode != 0
    assert 'ImportError' in proc.stderr
    assert 'torch>=1.13' in proc.stderr


@pytest.mark.skipif(not ON_ONEDL_FORKS,
                    reason='OpenMMLab\'s mmcv 2.1.0 meets the gate')
def test_plain_mmrazor_import_fails_at_the_mmcv_gate_on_the_forks():
    """Proves the gate fix is needed on the ONEDL forks (hook off)."""
    proc = run_python('import mmrazor', env=NO_HOOK)
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
            'print(MODELS.get("SingleTeacherDistill").__module__)',
            env=NO_HOOK))
    # (onedl-mmdetection prints a line of its own on import, in between.)
    words = out.split()
    assert words[:2] == ['failed', 'first']
    assert words[-1] == 'mmakd.models.algorithms.strict_teacher'


@pytest.mark.parametrize('name', ['SingleTeacherDistill', 'FpnTeacherDistill'])
def test_mmrazor_registry_resolves_the_strict_subclass(name):
    from mmrazor.models import algorithms as razor_algorithms
    from mmrazor.registry import MODELS

    from mmakd.models import algorithms as akd_algorithms

    cls = MODELS.get(name)
    assert cls is getattr(akd_algorithms, name)
    assert issubclass(cls, getattr(razor_algorithms, name))
    assert MODELS.get(f'mmrazor.{name}') is cls


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
        'mmakd.models.algorithms.strict_teacher', 'SingleTeacherDistill'
    ]
