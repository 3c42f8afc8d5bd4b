"""A module compiled from its own source with one line changed, through a
finder that is on ``sys.meta_path`` only while the import runs."""
import sys

import pytest

from mmakd_compat.source_patch import (SourcePatch, import_patched,
                                       module_source)


@pytest.fixture
def package(tmp_path, monkeypatch):
    """``gated_pkg`` with a gate in ``gated_pkg.tables``."""
    root = tmp_path / 'gated_pkg'
    root.mkdir()
    (root / '__init__.py').write_text('from . import tables\n')
    (root / 'tables.py').write_text('GATE = 1  # as shipped\nOTHER = 2\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    yield 'gated_pkg'
    for name in ('gated_pkg', 'gated_pkg.tables'):
        sys.modules.pop(name, None)


def test_the_patched_line_is_compiled_and_the_file_kept(package, tmp_path):
    patch = SourcePatch(f'{package}.tables', 'GATE = 1', 'GATE = 0')
    assert patch.applies_to(module_source(patch.module))
    finders = list(sys.meta_path)
    module = import_patched(package, [patch])
    assert module.tables.GATE == 0 and module.tables.OTHER == 2
    assert sys.meta_path == finders
    assert 'GATE = 1' in (tmp_path / 'gated_pkg' / 'tables.py').read_text()


def test_the_source_is_read_without_importing(package):
    assert module_source(package) == 'from . import tables\n'
    assert package not in sys.modules
    assert module_source(f'{package}.missing') is None
    assert module_source('no_such_package_here') is None


def test_a_line_that_is_gone_does_not_apply(package):
    patch = SourcePatch(f'{package}.tables', 'GATE = 3', 'GATE = 0')
    assert not patch.applies_to(module_source(patch.module))


def test_an_imported_module_is_left_as_it_is(package):
    import_patched(package, [])
    patch = SourcePatch(f'{package}.tables', 'GATE = 1', 'GATE = 0')
    assert import_patched(package, [patch]).tables.GATE == 1
