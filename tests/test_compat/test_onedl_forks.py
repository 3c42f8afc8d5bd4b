"""The fixes for the ONEDL forks, on either stack.

On OpenMMLab's packages the fork's distributions are simulated (what
``importlib.metadata`` reports is replaced), so the fix's decisions are
tested wherever the suite runs; ``make test-onedl`` runs the whole suite on
the real forks.
"""
import importlib.machinery
import os.path as osp

import pytest
from helpers import ON_ONEDL_FORKS

from mmakd_compat import onedl_forks


@pytest.fixture
def installed(monkeypatch):
    """Sets which distributions ``importlib.metadata`` reports, by name."""

    def set_installed(**versions):
        names = {k.replace('_', '-'): v for k, v in versions.items()}
        monkeypatch.setattr(onedl_forks, '_installed', names.get)
        monkeypatch.setattr(onedl_forks.metadata, 'distributions',
                            lambda: [])
        onedl_forks.fork_of.cache_clear()

    yield set_installed
    onedl_forks.fork_of.cache_clear()


def test_a_fork_counts_only_without_the_openmmlab_package(installed):
    installed(onedl_mmsegmentation='1.4.2')
    assert onedl_forks.fork_of('mmsegmentation') == ('onedl-mmsegmentation',
                                                     '1.4.2')
    assert onedl_forks.active()
    installed(mmsegmentation='1.2.2', onedl_mmsegmentation='1.4.2')
    assert onedl_forks.fork_of('mmsegmentation') is None
    installed(mmcv='2.1.0', mmengine='0.10.7', mmdet='3.3.0',
              mmsegmentation='1.2.2')
    assert not onedl_forks.active()
    assert onedl_forks.fork_of('mmpretrain') is None  # no known fork


def test_mmcv_gate_is_widened_to_a_tested_fork_only(installed):
    installed(onedl_mmcv='2.3.6')
    assert onedl_forks.widened_mmcv_bound() == '2.3.6'
    installed(onedl_mmcv='2.4.0')  # untested: the gate stays MMRazor's
    assert onedl_forks.widened_mmcv_bound() is None
    installed(mmcv='2.1.0')
    assert onedl_forks.widened_mmcv_bound() is None
    assert onedl_forks.mmcv_gate_patches() == []


def test_cuda_builds_of_onedl_mmcv_count(installed, monkeypatch):
    installed()

    class Dist:
        metadata = {'Name': 'onedl_mmcv-cu128-torch2-8'}
        version = '2.3.6'

    monkeypatch.setattr(onedl_forks.metadata, 'distributions',
                        lambda: [Dist()])
    assert onedl_forks.fork_of('mmcv') == ('onedl-mmcv-cu128-torch2-8',
                                           '2.3.6')


#: MMRazor 1.0.0's gate, as its ``__init__`` ships it.
GATE_SOURCE = ("mmcv_minimum_version = '2.0.0rc1'\n"
               "mmcv_maximum_version = '2.1.0'\n")


def test_the_gate_is_compiled_with_the_forks_bound(installed, monkeypatch):
    installed(onedl_mmcv='2.3.6')
    monkeypatch.setattr(onedl_forks, 'module_source',
                        lambda name: GATE_SOURCE)
    patch, = onedl_forks.mmcv_gate_patches()
    assert patch.module == 'mmrazor'
    namespace = {}
    exec(GATE_SOURCE.replace(patch.line, patch.replacement), namespace)
    assert namespace['mmcv_maximum_version'] == '2.3.6'
    assert namespace['mmcv_minimum_version'] == '2.0.0rc1'


def test_a_changed_gate_on_the_fork_is_one_warning(installed, monkeypatch):
    installed(onedl_mmcv='2.3.6')
    monkeypatch.setattr(onedl_forks, 'module_source', lambda name: 'x = 1')
    with pytest.warns(RuntimeWarning, match="'mmrazor-mmcv-gate-onedl'"):
        assert onedl_forks.mmcv_gate_patches() == []


@pytest.fixture
def module2package(monkeypatch):
    """mmengine's package table with its own ``mmseg`` entry, restored
    after the test (on the forks, ``import mmakd`` changed it)."""
    from mmengine.config import utils as config_utils
    table = config_utils.MODULE2PACKAGE
    monkeypatch.setitem(table, 'mmseg', 'mmsegmentation')
    return table


def test_mmseg_configs_are_found_through_the_forks_package(
        installed, module2package):
    """``mmseg::`` names the project ``mmsegmentation``, which the fork does
    not install: the table's entry becomes the import name ``mmseg``, which
    mmengine's own lookups find."""
    import mmseg
    from mmengine.utils import get_installed_path, is_installed
    installed(mmsegmentation='1.2.2')
    onedl_forks.point_mmseg_at_the_fork()
    assert module2package['mmseg'] == 'mmsegmentation'
    installed(onedl_mmsegmentation='1.4.2')
    onedl_forks.point_mmseg_at_the_fork()
    assert module2package['mmseg'] == 'mmseg'
    assert is_installed('mmseg')
    assert get_installed_path('mmseg') == osp.dirname(mmseg.__file__)


@pytest.mark.skipif(ON_ONEDL_FORKS, reason='the forks are installed here')
def test_on_openmmlab_packages_nothing_is_changed():
    from mmengine.config.utils import MODULE2PACKAGE
    assert MODULE2PACKAGE['mmseg'] == 'mmsegmentation'
    import mmrazor
    assert mmrazor.mmcv_maximum_version == '2.1.0'
    assert type(mmrazor.__spec__.loader) is \
        importlib.machinery.SourceFileLoader


@pytest.mark.skipif(not ON_ONEDL_FORKS, reason='OpenMMLab\'s packages here')
def test_on_the_forks_mmseg_configs_resolve():
    from mmengine.hub import get_config
    cfg = get_config(
        'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
    assert cfg.model.type == 'EncoderDecoder'
