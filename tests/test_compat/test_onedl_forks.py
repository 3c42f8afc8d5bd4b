"""Fix 6, the ONEDL forks, on either stack.

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
    assert onedl_forks.find_spec('mmrazor', None) is None


def test_cuda_builds_of_onedl_mmcv_count(installed, monkeypatch):
    installed()

    class Dist:
        metadata = {'Name': 'onedl_mmcv-cu128-torch2-8'}
        version = '2.3.6'

    monkeypatch.setattr(onedl_forks.metadata, 'distributions',
                        lambda: [Dist()])
    assert onedl_forks.fork_of('mmcv') == ('onedl-mmcv-cu128-torch2-8',
                                           '2.3.6')


def test_the_gated_module_compiles_with_the_forks_bound(installed, tmp_path,
                                                        monkeypatch):
    """MMRazor's ``__init__`` as shipped, compiled by the fix."""
    package = tmp_path / 'mmrazor'
    package.mkdir()
    (package / '__init__.py').write_text(
        "mmcv_minimum_version = '2.0.0rc1'\n"
        "mmcv_maximum_version = '2.1.0'\n")
    installed(onedl_mmcv='2.3.6')
    spec = onedl_forks.find_spec('mmrazor', [str(tmp_path)])
    assert spec is not None
    namespace = {}
    exec(spec.loader.get_code('mmrazor'), namespace)
    assert namespace['mmcv_maximum_version'] == '2.3.6'
    assert namespace['mmcv_minimum_version'] == '2.0.0rc1'
    assert onedl_forks.find_spec('mmdet', [str(tmp_path)]) is None


def test_package_lookups_answer_for_the_fork(installed):
    """``mmsegmentation`` (mmengine's project name of ``mmseg::``) is found
    as the package ``mmseg`` that the fork installs."""
    import mmseg

    def not_installed(package):
        raise ImportError(f'Package {package} is not installed.')

    lookup = onedl_forks._wrap_installed_path(not_installed)
    is_installed = onedl_forks._wrap_is_installed(lambda package: False)
    installed(onedl_mmsegmentation='1.4.2')
    assert lookup('mmsegmentation') == osp.dirname(mmseg.__file__)
    assert is_installed('mmsegmentation')
    with pytest.raises(ImportError, match='mmpretrain is not installed'):
        lookup('mmpretrain')
    assert not is_installed('mmpretrain')
    installed(mmsegmentation='1.2.2')
    with pytest.raises(ImportError):
        lookup('mmsegmentation')


@pytest.mark.skipif(ON_ONEDL_FORKS, reason='the forks are installed here')
def test_on_openmmlab_packages_nothing_is_wrapped():
    from mmengine.utils import package_utils
    for name in ('is_installed', 'get_installed_path'):
        assert not getattr(getattr(package_utils, name), '__mmakd_onedl__',
                           False)
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
