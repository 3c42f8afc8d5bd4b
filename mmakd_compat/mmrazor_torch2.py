"""Let MMRazor 1.0.0 import under torch 2.x.

MMRazor 1.0.0 builds FX-quantization tables at import time in two modules
under ``mmrazor/structures/quantization/backend_config/``, behind the gate
``digit_version(torch.__version__) >= digit_version('1.13.0')``. Those tables
use torch names that torch 2.x removed, so ``import mmrazor.models`` fails
(``ImportError: `torch>=1.13` is not installed properly``; reported as
open-mmlab/mmrazor#615 and #632). MMRazor's main branch narrowed both gates
to torch 1.13.x after the release; the fix never reached PyPI.

:data:`PATCHES` is exactly that change, applied while ``import mmakd``
imports MMRazor (:func:`mmakd_compat.apply`); the installed files are not
modified.
"""
import re
import sys
from importlib import metadata
from typing import List, Optional

from .source_patch import SourcePatch, module_source

__all__ = ['NAME', 'GATED_MODULES', 'PATCHES', 'affected', 'patches']

#: The fix's name (its section in docs/process-changes.md).
NAME = 'mmrazor-torch2-gate'
_PACKAGE = 'mmrazor.structures.quantization.backend_config'
GATED_MODULES = (f'{_PACKAGE}.common_operator_config_utils',
                 f'{_PACKAGE}.mapping')
_GATE = "if digit_version(torch.__version__) >= digit_version('1.13.0'):"
_NARROWED_GATE = ("if digit_version('1.13.0') <= digit_version("
                  "torch.__version__) < digit_version('2.0.0'):")
PATCHES = tuple(
    SourcePatch(module, _GATE, _NARROWED_GATE) for module in GATED_MODULES)
#: The MMRazor releases whose gate breaks on torch 2.
AFFECTED_MMRAZOR = ('1.0.0', )


def _major(version: Optional[str]) -> Optional[int]:
    match = re.match(r'\d+', str(version)) if version else None
    return int(match.group()) if match else None


def _installed(distribution: str) -> Optional[str]:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def affected() -> bool:
    """Whether the installed MMRazor and torch are the pair that breaks."""
    torch = sys.modules.get('torch')
    torch_version = getattr(torch, '__version__', None) or _installed('torch')
    major = _major(torch_version)
    return _installed('mmrazor') in AFFECTED_MMRAZOR and \
        major is not None and major >= 2


def patches() -> List[SourcePatch]:
    """The patches to apply here; [] where the versions are not affected or
    a patch's line is gone (:func:`missing` says which)."""
    if not affected():
        return []
    if missing():
        return []
    return list(PATCHES)


def missing() -> List[str]:
    """The gated modules whose source no longer holds the gate."""
    return [
        p.module for p in PATCHES if not p.applies_to(module_source(p.module))
    ]
