"""Let MMRazor 1.0.0 import under torch 2.x.

MMRazor 1.0.0 builds FX-quantization tables at import time in two modules
under ``mmrazor/structures/quantization/backend_config/``, behind the gate
``digit_version(torch.__version__) >= digit_version('1.13.0')``. Those tables
use torch names that torch 2.x removed, so ``import mmrazor.models`` fails.
Upstream narrowed both gates to torch 1.13.x after the release; the fix never
reached PyPI.

This module applies exactly that change, and nothing else, by compiling the two
modules from their own source with the gate narrowed. The installed files are
not modified. If the gate text is not found (a fixed MMRazor), the modules load
unchanged. Nothing is imported here until one of the two modules is: by then
MMRazor has imported torch itself.
"""
import importlib.machinery
import re
import sys
from typing import Optional, Sequence

_PACKAGE = 'mmrazor.structures.quantization.backend_config'
GATED_MODULES = (f'{_PACKAGE}.common_operator_config_utils',
                 f'{_PACKAGE}.mapping')
_GATE = "if digit_version(torch.__version__) >= digit_version('1.13.0'):"
_NARROWED_GATE = ("if digit_version('1.13.0') <= digit_version("
                  "torch.__version__) < digit_version('2.0.0'):")


class _NarrowedGateLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module from its source with the torch gate narrowed.

    The bytecode cache is bypassed on purpose: a cached ``.pyc`` holds the
    original gate.
    """

    def get_code(self, fullname: str):
        source = self.get_data(self.get_filename(fullname)).decode('utf-8')
        return compile(
            source.replace(_GATE, _NARROWED_GATE),
            self.get_filename(fullname),
            'exec',
            dont_inherit=True)


def torch_major() -> Optional[int]:
    """Major version of the imported (else installed) torch, None if none."""
    torch = sys.modules.get('torch')
    version = getattr(torch, '__version__', None)
    if version is None:
        from importlib import metadata
        try:
            version = metadata.version('torch')
        except metadata.PackageNotFoundError:
            return None
    match = re.match(r'\d+', str(version))
    return int(match.group()) if match else None


def needs_fix() -> bool:
    """Whether the running torch is one that the release's gate breaks."""
    major = torch_major()
    return major is not None and major >= 2


def find_spec(fullname: str, path: Optional[Sequence[str]]
              ) -> Optional[importlib.machinery.ModuleSpec]:
    """The spec of a gated module, loaded with the gate narrowed.

    Returns None (the normal import) for any other module, or when the
    running torch is not affected.
    """
    if fullname not in GATED_MODULES or not needs_fix():
        return None
    spec = importlib.machinery.PathFinder.find_spec(fullname, path)
    if spec is None or not isinstance(spec.loader,
                                      importlib.machinery.SourceFileLoader):
        return spec
    spec.loader = _NarrowedGateLoader(fullname, spec.origin)
    return spec
