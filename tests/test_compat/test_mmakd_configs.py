"""``mmakd::`` config names, in the editable install.

``configs/`` is reached as ``mmakd/.mim/configs`` (links that the editable
build makes in the checkout), as mmengine reads any OpenMMLab package's
configs; :mod:`mmakd_compat.mmakd_configs` teaches mmengine's config lookup
the name ``mmakd`` while mmakd is imported. The installed wheel is tested in
``test_process_changes.py``.
"""
import os.path as osp
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from helpers import ON_ONEDL_FORKS, REPO_ROOT, run_python
from mmengine.config import Config
from mmengine.hub import get_config

import mmakd
from mmakd.models.algorithms import build_sub_model
from mmakd_compat import mmakd_configs, report

AKD_CWD = 'cwd/akd-cwd_fpn_retina-r101_retina-r50_2x_coco.py'
#: A config outside the model index, whose typed dict has no scope.
CWD_LOGITS = '_base_/distillers/cwd_logits.py'
#: A CPU-sized mmseg model config (the Digit Scenes student, a project's
#: config: not in mmakd's configs).
SEG_STUDENT = osp.join(REPO_ROOT, 'projects', 'digit_scenes', 'configs',
                       'pspnet_r18-w8-d4_1500i_digit-scenes.py')
#: Where the configs of the imported mmakd are.
MIM_CONFIGS = osp.join(osp.dirname(mmakd.__file__), '.mim', 'configs')
REPO_CONFIGS = osp.join(REPO_ROOT, 'configs')


def _in_package(path: str, name: str) -> None:
    """``path`` is ``mmakd/.mim/configs/<name>`` of the imported mmakd, and
    is the checkout's ``configs/<name>``."""
    assert path == osp.join(MIM_CONFIGS, name)
    assert osp.samefile(path, osp.join(REPO_CONFIGS, name))


def test_the_editable_install_links_the_checkouts_configs():
    mim = Path(MIM_CONFIGS).parent
    for name in ('configs', 'tools', 'model-index.yml'):
        assert osp.samefile(mim / name, osp.join(REPO_ROOT, name)), name


def test_get_config_resolves_a_recipe_of_the_model_index():
    cfg = get_config(f'mmakd::{AKD_CWD}')
    _in_package(cfg.filename, AKD_CWD)
    assert cfg.model.distiller.type == 'AvatarDistiller'


def test_get_config_resolves_a_config_outside_the_index():
    cfg = get_config(f'mmakd::{CWD_LOGITS}')
    _in_package(cfg.filename, CWD_LOGITS)
    assert cfg.cwd_logits_distiller.type == 'ConfigurableDistiller'


def _scopes(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if '_scope_' in node:
            yield node['_scope_']
        for value in node.values():
            yield from _scopes(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _scopes(value)


def _with_base(tmp_path: Path, base: str, extra: str = '') -> Path:
    path = tmp_path / 'my_recipe.py'
    path.write_text(f'_base_ = {base!r}\n{extra}')
    return path


def test_a_base_named_mmakd_resolves(tmp_path):
    cfg = Config.fromfile(
        str(_with_base(tmp_path, f'mmakd::{AKD_CWD}',
                       'train_cfg = dict(max_epochs=1)\n')))
    assert cfg.model.distiller.type == 'AvatarDistiller'
    assert cfg.model._scope_ == 'mmrazor'
    assert cfg.train_cfg.max_epochs == 1
    assert cfg.param_scheduler[1].milestones == [16, 22]


def test_an_mmakd_base_keeps_its_own_scopes(tmp_path):
    """mmengine would give every typed dict of a ``pkg::`` base the scope
    ``pkg``; mmakd's configs set theirs (no registry has scope mmakd)."""
    cfg = Config.fromfile(str(_with_base(tmp_path, f'mmakd::{CWD_LOGITS}')))
    direct = Config.fromfile(osp.join(REPO_CONFIGS, CWD_LOGITS))
    assert 'mmakd' not in set(_scopes(cfg.to_dict()))
    assert cfg.to_dict() == direct.to_dict()


def _mmakd_installed_at(monkeypatch, folder: str) -> Callable[[str], str]:
    """mmengine's ``get_installed_path`` answers ``folder`` for mmakd (its
    ``mmakd::`` names resolve in ``folder/.mim/configs``), its own answer
    for every other package.

    Returns:
        The function that replaces it.
    """
    import mmengine.config.config as config
    import mmengine.hub.hub as hub
    import mmengine.utils as utils
    from mmengine.utils import package_utils
    original = package_utils.get_installed_path
    original = getattr(original, '__wrapped__', original)

    def installed_path(package):
        return folder if package == 'mmakd' else original(package)

    for module in (package_utils, utils, config, hub):
        monkeypatch.setattr(module, 'get_installed_path', installed_path)
    return installed_path


def test_a_cfg_path_named_mmakd_builds_in_its_configs_scope(
        monkeypatch, tmp_path):
    """mmakd ships no model config of its own: the name is that of a
    config in an mmakd whose configs hold one, the Digit Scenes student."""
    mim = tmp_path / '.mim'
    (mim / 'configs' / 'models').mkdir(parents=True)
    (mim / 'configs' / 'models' / 'seg_student.py').write_text(
        f'_base_ = {SEG_STUDENT!r}\n')
    (mim / 'model-index.yml').write_text('Import: []\n')
    _mmakd_installed_at(monkeypatch, str(tmp_path))
    model = build_sub_model(
        dict(cfg_path='mmakd::models/seg_student.py', pretrained=False))
    assert type(model).__name__ == 'EncoderDecoder'
    assert type(model).__module__.startswith('mmseg.')
    assert model.backbone.base_channels == 8


def test_other_names_are_mmengines():
    from mmengine.config.utils import MODULE2PACKAGE, _get_package_and_cfg_path
    assert _get_package_and_cfg_path('mmakd::cwd/a.py') == ('mmakd',
                                                            'cwd/a.py')
    assert _get_package_and_cfg_path('mmdet::retinanet/a.py') == \
        ('mmdet', 'retinanet/a.py')
    with pytest.raises(AssertionError, match='not support to load nopkg'):
        _get_package_and_cfg_path('nopkg::a/b.py')
    with pytest.raises(ValueError, match='multiple `::`'):
        _get_package_and_cfg_path('mmakd::a/b::c.py')
    # mmakd's entry in mmengine's own table; the function is mmengine's.
    assert MODULE2PACKAGE['mmakd'] == 'mmakd'
    assert not hasattr(_get_package_and_cfg_path, '__wrapped__')


def test_the_perturbation_registry_keeps_working():
    """mmakd in mmengine's table: a registry of scope mmakd still builds."""
    from mmakd.models.avatars import PERTURBATIONS
    get_config(f'mmakd::{AKD_CWD}')
    assert PERTURBATIONS.get('ChannelDropout').__name__ == 'ChannelDropout'


def test_one_wrapper_and_what_it_did_is_recorded():
    wrapped = Config.__dict__['_get_cfg_path']
    assert getattr(wrapped.__func__, '__mmakd_compat__', False)
    assert not hasattr(wrapped.__func__.__wrapped__, '__mmakd_compat__')
    mmakd_configs.apply()
    assert Config.__dict__['_get_cfg_path'] is wrapped
    states = {s.name: s.state for s in report()}
    assert states[mmakd_configs.NAME] == 'applied'
    assert states[mmakd_configs.EDITABLE_NAME] in ('applied', 'not needed')


@pytest.fixture
def mmengine_misses_mmakd(monkeypatch, tmp_path):
    """mmengine's ``get_installed_path`` as in a PEP 660 editable install:
    an answer for mmakd without ``.mim/configs``."""
    return _mmakd_installed_at(monkeypatch, str(tmp_path))


def test_an_editable_install_is_found_where_mmakd_is_imported_from(
        mmengine_misses_mmakd):
    import mmengine.hub.hub as hub
    mmakd_configs.apply()
    assert hub.get_installed_path('mmakd') == osp.dirname(mmakd.__file__)
    assert hub.get_installed_path('mmdet') == \
        mmengine_misses_mmakd('mmdet')
    assert get_config(f'mmakd::{AKD_CWD}').filename == \
        osp.join(MIM_CONFIGS, AKD_CWD)
    assert {s.name: s.state
            for s in report()}[mmakd_configs.EDITABLE_NAME] == 'applied'


def test_a_changed_mmengine_is_one_warning(monkeypatch):
    from mmengine.config import utils as config_utils
    monkeypatch.delattr(config_utils, 'MODULE2PACKAGE')
    with pytest.warns(RuntimeWarning) as warned:
        mmakd_configs.apply()
        mmakd_configs.apply()
    assert len(warned) == 1
    message = str(warned[0].message)
    assert "mmakd: its fix 'mmakd-config-names' cannot apply" in message
    assert 'docs/process-changes.md' in message
    monkeypatch.undo()
    mmakd_configs.apply()


# ----------------------------------------------------- fresh interpreters

#: Parses a config whose base is an mmakd:: name without reading its
#: custom_imports (as mmdet's, mmseg's and MMRazor's train.py parse
#: ``_base_`` first).
PARSE = ('import sys\n'
         'from mmengine.config import Config\n'
         'cfg = Config.fromfile(sys.argv[1], import_custom_modules=False)\n'
         'print(cfg.model.distiller.type, "mmakd" in sys.modules)')


def test_without_mmakd_mmengine_refuses_mmakd(tmp_path):
    """Nothing of mmakd runs in a process that does not import it."""
    config = _with_base(tmp_path, f'mmakd::{AKD_CWD}')
    proc = run_python(PARSE, str(config), cwd=str(tmp_path))
    assert proc.returncode != 0
    assert 'mmengine does not support to load mmakd config' in proc.stderr


def test_with_mmakd_imported_first_an_mmakd_base_resolves(tmp_path):
    """From another working directory (no ``mmakd.egg-info`` there)."""
    config = _with_base(tmp_path, f'mmakd::{AKD_CWD}')
    proc = run_python('import mmakd\n' + PARSE, str(config),
                      cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == 'AvatarDistiller True'


def test_get_installed_path_is_where_mmakd_is_imported_from(tmp_path):
    """From outside the checkout, mmengine alone looks in site-packages
    (the editable install): with mmakd imported, the fix acts."""
    proc = run_python(
        'import importlib.util, mmakd, mmakd_compat\n'
        'from mmengine.utils import get_installed_path\n'
        'print({s.name: s.state for s in mmakd_compat.report()}'
        '["mmakd-editable-configs"])\n'
        'print(get_installed_path("mmakd"))\n'
        'print(importlib.util.find_spec("mmakd").origin)',
        cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    state, installed, origin = proc.stdout.strip().splitlines()[-3:]
    # onedl-mmengine finds an editable install by itself.
    assert state == ('not needed' if ON_ONEDL_FORKS else 'applied')
    assert installed == osp.dirname(origin)
    assert osp.isdir(osp.join(installed, '.mim', 'configs'))


def test_import_mmakd_fixes_an_imported_mmengine(tmp_path):
    """mmengine's config lookup imported before mmakd."""
    code = ('import sys\n'
            'import mmengine.hub\n'
            'from mmengine.config import Config\n'
            'import mmakd\n'
            'print(mmengine.hub.get_config(sys.argv[1]).model.distiller.type)')
    proc = run_python(code, f'mmakd::{AKD_CWD}', cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == 'AvatarDistiller'
