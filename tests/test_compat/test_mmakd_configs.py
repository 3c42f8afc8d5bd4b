"""``mmakd::`` config names, in the editable install.

``configs/`` is reached as ``mmakd/.mim/configs`` (links that the editable
build makes in the checkout), as mmengine reads any OpenMMLab package's
configs; :mod:`mmakd_compat.mmakd_configs` teaches mmengine's config lookup
the name ``mmakd``. The installed wheel is tested in
``test_startup_hook.py``.
"""
import os.path as osp
from pathlib import Path
from typing import Any, Iterator

import pytest
from helpers import REPO_ROOT, run_python
from mmengine.config import Config
from mmengine.hub import get_config
from mmrazor.registry import MODELS

import mmakd
from mmakd_compat import DISABLE_ENV, mmakd_configs, razor_cfg_path

AKD_CWD = 'cwd/akd-cwd_fpn_retina-r101_retina-r50_2x_coco.py'
#: A CPU-sized mmseg model config (the Digit Scenes student).
SEG_STUDENT = 'digit_scenes/pspnet_r18-w8-d4_1500i_digit-scenes.py'
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
    name = '_base_/models/retinanet_r18_fpn_digit-scenes.py'
    cfg = get_config(f'mmakd::{name}')
    _in_package(cfg.filename, name)
    assert cfg.model.type == 'RetinaNet'


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
    name = 'digit_scenes/cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_' \
        'digit-scenes.py'
    cfg = Config.fromfile(str(_with_base(tmp_path, f'mmakd::{name}')))
    direct = Config.fromfile(osp.join(REPO_CONFIGS, name))
    assert 'mmakd' not in set(_scopes(cfg.to_dict()))
    assert cfg.to_dict() == direct.to_dict()


def test_a_cfg_path_named_mmakd_builds_in_its_configs_scope():
    model = MODELS.build(
        dict(cfg_path=f'mmakd::{SEG_STUDENT}', pretrained=False))
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
    # mmengine's registries read the table too: mmakd stays out of it.
    assert 'mmakd' not in MODULE2PACKAGE


def test_the_perturbation_registry_keeps_working():
    """A registry of scope mmakd imports nothing of ``mmakd.utils``."""
    from mmakd.models.avatars import PERTURBATIONS
    get_config(f'mmakd::{AKD_CWD}')
    assert PERTURBATIONS.get('ChannelDropout').__name__ == 'ChannelDropout'


def test_the_wrappers_are_installed_once():
    import mmengine.config.config as config
    import mmengine.hub.hub as hub
    import mmengine.utils as utils
    from mmengine.config import utils as config_utils
    for module, name in ((config_utils, '_get_package_and_cfg_path'),
                         (config, '_get_package_and_cfg_path'),
                         (hub, '_get_package_and_cfg_path'),
                         (utils, 'get_installed_path'),
                         (config, 'get_installed_path'),
                         (hub, 'get_installed_path')):
        function = getattr(module, name)
        if getattr(function, '__mmakd_onedl__', False):  # on the forks
            function = function.__wrapped__
        assert getattr(function, '__mmakd_compat__', False), (module, name)
        assert not getattr(function.__wrapped__, '__mmakd_compat__', False)
    wrapped = Config.__dict__['_get_cfg_path']
    mmakd_configs.fix_imported()
    assert Config.__dict__['_get_cfg_path'] is wrapped
    assert config_utils._get_package_and_cfg_path is \
        config._get_package_and_cfg_path


# ----------------------------------------------------- fresh interpreters

#: Parses a config whose base is an mmakd:: name without reading its
#: custom_imports (as mmdet's, mmseg's and MMRazor's train.py parse
#: ``_base_`` first).
PARSE = ('import sys\n'
         'from mmengine.config import Config\n'
         'cfg = Config.fromfile(sys.argv[1], import_custom_modules=False)\n'
         'print(cfg.model.distiller.type, "mmakd" in sys.modules)')


def test_the_startup_hook_resolves_an_mmakd_base(tmp_path):
    """From another working directory (no ``mmakd.egg-info`` there)."""
    config = _with_base(tmp_path, f'mmakd::{AKD_CWD}')
    proc = run_python(PARSE, str(config), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == 'AvatarDistiller False'


def test_without_the_fix_mmengine_refuses_mmakd(tmp_path):
    config = _with_base(tmp_path, f'mmakd::{AKD_CWD}')
    proc = run_python(
        PARSE, str(config), env={DISABLE_ENV: '1'}, cwd=str(tmp_path))
    assert proc.returncode != 0
    assert 'mmengine does not support to load mmakd config' in proc.stderr


def test_get_installed_path_is_where_mmakd_is_imported_from(tmp_path):
    proc = run_python(
        'import importlib.util\n'
        'from mmengine.utils import get_installed_path\n'
        'print(get_installed_path("mmakd"))\n'
        'print(importlib.util.find_spec("mmakd").origin)',
        cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    installed, origin = proc.stdout.strip().splitlines()[-2:]
    assert installed == osp.dirname(origin)
    assert osp.isdir(osp.join(installed, '.mim', 'configs'))


def test_import_mmakd_fixes_an_imported_mmengine(tmp_path):
    """mmengine's config lookup imported before mmakd, the hook off."""
    code = ('import sys\n'
            'import mmengine.hub\n'
            'from mmengine.config import Config\n'
            'import mmakd\n'
            'print(mmengine.hub.get_config(sys.argv[1]).model.distiller.type)')
    proc = run_python(
        code, f'mmakd::{AKD_CWD}', env={DISABLE_ENV: '1'}, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == 'AvatarDistiller'


def test_the_finder_routes_every_fixed_module():
    import mmakd_compat
    routed = mmakd_compat._AFTER_EXEC
    assert {n for n, m in routed.items() if 'mmakd_configs' in m} == \
        set(mmakd_configs.FIXES)
    assert {n for n, m in routed.items() if 'razor_cfg_path' in m} == \
        {razor_cfg_path.TARGET}
    assert {n for n, m in routed.items() if 'onedl_forks' in m} == \
        {'mmengine.utils.package_utils'}
    assert set().union(*routed.values()) == {
        'mmakd_configs', 'onedl_forks', 'razor_cfg_path'
    }


def test_the_fixes_are_imported_with_what_they_fix():
    """Not at start-up: only once mmengine's config lookup is imported."""
    proc = run_python('import sys\n'
                      'names = ("mmakd_compat.mmakd_configs", '
                      '"mmakd_compat.razor_cfg_path")\n'
                      'print([n in sys.modules for n in names])\n'
                      'import mmengine.config\n'
                      'print([n in sys.modules for n in names])')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split('\n')[:2] == ['[False, False]', '[True, False]']
