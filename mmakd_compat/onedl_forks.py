"""Let MMRazor 1.0.0 and mmengine work on the ONEDL forks of OpenMMLab.

The maintained continuation of OpenMMLab's packages is published on PyPI
under other distribution names that keep the import names:
``onedl-mmcv`` (also as CUDA builds such as ``onedl-mmcv-cu128-torch2-8``),
``onedl-mmengine``, ``onedl-mmdetection`` and ``onedl-mmsegmentation``.
Two things stop mmakd there, and each is fixed where it is raised, only
when a fork's distribution is installed and the OpenMMLab one is not:

1. ``mmrazor/__init__.py`` asserts ``mmcv <= 2.1.0``; the forks' mmcv is
   2.3.x. The module is compiled from its own source with the upper bound
   set to the installed fork's version when that version is one mmakd was
   tested with (:data:`TESTED_MMCV`, up to 2.3.6); any other mmcv meets the
   gate unchanged. The installed file is not modified.
2. mmengine resolves ``mmseg::`` configs through the PyPI project name
   ``mmsegmentation`` (``mmengine.config.utils.MODULE2PACKAGE``), so
   ``is_installed('mmsegmentation')`` is False and
   ``get_installed_path('mmsegmentation')`` raises ``ImportError`` when
   only ``onedl-mmsegmentation`` is installed: every ``mmseg::`` config
   fails with ``ModuleNotFoundError: mmsegmentation is not installed``.
   Both functions are wrapped to answer for a project whose fork is
   installed (:data:`FORKS`) with the package it installs; every other
   name goes to mmengine.

Nothing here runs on OpenMMLab's own packages: without a fork's
distribution the gate and both functions are mmengine's and MMRazor's.
"""
import functools
import importlib.machinery
import re
import sys
import types
from importlib import metadata
from typing import Callable, Dict, Optional, Sequence, Tuple

from .wrapping import marked, rebind, wrap_function

__all__ = [
    'FORKS', 'TESTED_MMCV', 'GATED_MODULE', 'active', 'fork_of', 'find_spec',
    'fix', 'fix_imported'
]

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
#: Marks a wrapper, so that no function is wrapped twice.
_MARK = '__mmakd_onedl__'


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


class _WidenedGateLoader(importlib.machinery.SourceFileLoader):
    """Compiles ``mmrazor/__init__.py`` with the fork's mmcv as the upper
    bound of its gate (the bytecode cache, which holds the original gate,
    is bypassed)."""

    def __init__(self, fullname: str, path: str, bound: str) -> None:
        super().__init__(fullname, path)
        self.bound = bound

    def get_code(self, fullname: str):
        source = self.get_data(self.get_filename(fullname)).decode('utf-8')
        return compile(
            source.replace(_GATE, f"mmcv_maximum_version = '{self.bound}'"),
            self.get_filename(fullname),
            'exec',
            dont_inherit=True)


def find_spec(fullname: str, path: Optional[Sequence[str]]
              ) -> Optional[importlib.machinery.ModuleSpec]:
    """The spec of ``mmrazor`` with its gate widened, on a fork's mmcv.

    Returns None (the normal import) for any other module, or when no
    tested fork of mmcv is installed.
    """
    if fullname != GATED_MODULE:
        return None
    bound = widened_mmcv_bound()
    if bound is None:
        return None
    spec = importlib.machinery.PathFinder.find_spec(fullname, path)
    if spec is None or type(
            spec.loader) is not importlib.machinery.SourceFileLoader:
        return spec
    spec.loader = _WidenedGateLoader(fullname, spec.origin, bound)
    return spec


def _fork_package_path(project: str) -> Optional[str]:
    """The folder of the package a project's installed fork provides."""
    if fork_of(project) is None:
        return None
    import importlib.util
    import os.path as osp
    spec = importlib.util.find_spec(FORKS[project][1])
    if spec is None or not spec.origin:
        return None
    return osp.dirname(spec.origin)


_marked = functools.partial(marked, mark=_MARK)


def _wrap_is_installed(original: Callable) -> Callable:

    def is_installed(package: str) -> bool:
        return original(package) or _fork_package_path(package) is not None

    return _marked(is_installed, original)


def _wrap_installed_path(original: Callable) -> Callable:

    def get_installed_path(package: str) -> str:
        folder = _fork_package_path(package)
        return original(package) if folder is None else folder

    return _marked(get_installed_path, original)


_MODULE = 'mmengine.utils.package_utils'
#: (attribute, wrapper factory, modules that import it by name).
_TARGETS = (
    ('is_installed', _wrap_is_installed,
     ('mmengine.utils', 'mmengine.config.config', 'mmengine.hub.hub',
      'mmengine.registry.utils')),
    ('get_installed_path', _wrap_installed_path,
     ('mmengine.utils', 'mmengine.config.config', 'mmengine.hub.hub')),
)


def fix(module: types.ModuleType) -> None:
    """Wraps ``is_installed`` and ``get_installed_path`` of
    ``mmengine.utils.package_utils`` (just executed), once, where a fork is
    installed (:func:`active`).

    Args:
        module: The module.
    """
    if not active():
        return
    for name, factory, _ in _TARGETS:
        wrap_function(module, name, factory, _MARK)


def fix_imported() -> None:
    """Applies :func:`fix` to an already imported
    ``mmengine.utils.package_utils`` and rebinds the wrappers in the modules
    that imported the functions by name."""
    module = sys.modules.get(_MODULE)
    if module is None or not active():
        return
    for name, factory, importers in _TARGETS:
        pair = wrap_function(module, name, factory, _MARK)
        if pair is not None:
            rebind(importers, name, *pair)
