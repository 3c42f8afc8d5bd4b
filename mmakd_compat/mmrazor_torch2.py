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

from . import status
from .source_patch import SourcePatch, module_source

__all__ = [
    'NAME', 'GATED_MODULES', 'PATCHES', 'affected', 'gate_patches', 'missing'
]

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


def missing() -> List[str]:
    """The gated modules whose source no longer holds the gate."""
    return [
        p.module for p in PATCHES if not p.applies_to(module_source(p.module))
    ]


def gate_patches() -> List[SourcePatch]:
    """:data:`PATCHES` where the installed versions need them, else []
    (and one warning where a gate's line is gone); records the outcome."""
    if not affected():
        status.record(NAME, status.NOT_NEEDED,
                      'MMRazor is not 1.0.0, or torch is 1.x')
        return []
    gone = missing()
    if gone:
        status.cannot_apply(
            NAME, f'{", ".join(gone)} no longer hold the torch gate, so '
            '`import mmrazor.models` may fail with "`torch>=1.13` is not '
            'installed properly"')
        return []
    status.record(
        NAME, status.APPLIED,
        'compiled with the torch gate narrowed to 1.13.x: ' +
        ', '.join(GATED_MODULES))
    return list(PATCHES)
