"""Let MMRazor 1.0.0 and mmengine work on the ONEDL forks of OpenMMLab.

The maintained continuation of OpenMMLab's packages is published on PyPI
under other distribution names that keep the import names:
``onedl-mmcv`` (also as CUDA builds such as ``onedl-mmcv-cu128-torch2-8``),
``onedl-mmengine``, ``onedl-mmdetection`` and ``onedl-mmsegmentation``.
Two things stop mmakd there, and each is fixed only when a fork's
distribution is installed and the OpenMMLab one is not:

1. ``mmrazor-mmcv-gate-onedl``: ``mmrazor/__init__.py`` asserts
   ``mmcv <= 2.1.0``; the forks' mmcv is 2.3.x. While ``import mmakd``
   imports MMRazor, the module is compiled from its own source with the
   upper bound set to the installed fork's version when that version is one
   mmakd was tested with (:data:`TESTED_MMCV`, up to 2.3.6); any other mmcv
   meets the gate unchanged. The installed file is not modified.
2. ``mmseg-configs-onedl``: mmengine resolves ``mmseg::`` configs through
   the PyPI project that its table ``MODULE2PACKAGE`` names for ``mmseg``,
   ``mmsegmentation``, which is not installed where
   ``onedl-mmsegmentation`` is: every ``mmseg::`` config fails with
   ``ModuleNotFoundError: mmsegmentation is not installed``. The table's
   entry is pointed at the import name ``mmseg``, which mmengine's
   ``is_installed`` and ``get_installed_path`` find by the module.

Nothing here acts on OpenMMLab's own packages.
"""
import functools
import re
from importlib import metadata
from typing import Dict, List, Optional, Tuple

from . import status
from .source_patch import SourcePatch, module_source

__all__ = [
    'FORKS', 'TESTED_MMCV', 'GATED_MODULE', 'active', 'fork_of',
    'mmcv_gate_patches', 'point_mmseg_at_the_fork'
]

#: The fixes' names (their sections in docs/process-changes.md).
GATE_NAME = 'mmrazor-mmcv-gate-onedl'
CONFIGS_NAME = 'mmseg-configs-onedl'

#: OpenMMLab's PyPI project -> (the fork's distribution, the import name).
FORKS: Dict[str, Tuple[str, str]] = {
    'mmcv': ('onedl-mmcv', 'mmcv'),
    'mmengine': ('onedl-mmengine', 'mmengine'),
    'mmdet': ('onedl-mmdetection', 'mmdet'),
    'mmsegmentation': ('onedl-mmsegmentation', 'mmseg'),
}
#: The forks' mmcv versions mmakd was tested with (upper bound inclusive).
TESTED_MMCV = ('2.3.0', '2.3.6')
#: The module whose mmcv gate is widened.
GATED_MODULE = 'mmrazor'
_GATE = "mmcv_maximum_version = '2.1.0'"


def _installed(distribution: str) -> Optional[str]:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=None)
def fork_of(project: str) -> Optional[Tuple[str, str]]:
    """The fork of an OpenMMLab project, if it is installed instead of it.

    Args:
        project (str): OpenMMLab's PyPI project name (``'mmsegmentation'``).

    Returns:
        tuple[str, str] | None: (distribution, version) of the installed
        fork; None if ``project`` itself is installed, has no known fork,
        or the fork is not installed. CUDA builds of ``onedl-mmcv``
        (``onedl-mmcv-<cuda>-<torch>``) count as ``onedl-mmcv``.
    """
    if project not in FORKS or _installed(project) is not None:
        return None
    fork = FORKS[project][0]
    version = _installed(fork)
    if version is not None:
        return fork, version
    for dist in metadata.distributions():
        name = (dist.metadata['Name'] or '').lower().replace('_', '-')
        if name.startswith(fork + '-'):
            return name, dist.version
    return None


def active() -> bool:
    """Whether any fork of :data:`FORKS` is installed instead of its
    OpenMMLab project."""
    return any(fork_of(project) is not None for project in FORKS)


def _version_tuple(version: str) -> Tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r'\d+', version)[:3])


def widened_mmcv_bound() -> Optional[str]:
    """The mmcv upper bound for MMRazor's gate: the installed fork's
    version when it is in :data:`TESTED_MMCV`, else None (no change)."""
    fork = fork_of('mmcv')
    if fork is None:
        return None
    low, high = (_version_tuple(v) for v in TESTED_MMCV)
    version = fork[1]
    return version if low <= _version_tuple(version) <= high else None


def mmcv_gate_patches() -> List[SourcePatch]:
    """The patch of MMRazor's mmcv gate where a tested fork of mmcv is
    installed with MMRazor 1.0.0, else [] (and a warning where the gate's
    line is gone)."""
    bound = widened_mmcv_bound()
    if bound is None:
        status.record(GATE_NAME, status.NOT_NEEDED,
                      "OpenMMLab's mmcv, or an untested fork's")
        return []
    patch = SourcePatch(GATED_MODULE, _GATE,
                        f"mmcv_maximum_version = '{bound}'")
    if not patch.applies_to(module_source(GATED_MODULE)):
        status.cannot_apply(
            GATE_NAME, f'mmrazor/__init__.py no longer holds "{_GATE}", '
            f'so MMRazor may refuse onedl-mmcv {bound}')
        return []
    status.record(GATE_NAME, status.APPLIED,
                  f"mmrazor/__init__.py compiled with mmcv <= {bound}")
    return [patch]


def point_mmseg_at_the_fork() -> None:
    """Points mmengine's ``MODULE2PACKAGE['mmseg']`` at the import name
    where ``onedl-mmsegmentation`` is installed instead of mmsegmentation."""
    if fork_of('mmsegmentation') is None:
        status.record(CONFIGS_NAME, status.NOT_NEEDED,
                      'onedl-mmsegmentation is not installed')
        return
    from mmengine.config import utils as config_utils
    table = getattr(config_utils, 'MODULE2PACKAGE', None)
    if not isinstance(table, dict) or 'mmseg' not in table:
        status.cannot_apply(
            CONFIGS_NAME, 'mmengine.config.utils.MODULE2PACKAGE has no '
            "'mmseg' entry, so mmseg:: configs may not resolve on "
            'onedl-mmsegmentation')
        return
    before = table['mmseg']
    table['mmseg'] = FORKS['mmsegmentation'][1]
    status.record(CONFIGS_NAME, status.APPLIED,
                  f"MODULE2PACKAGE['mmseg']: {before!r} -> 'mmseg'")
