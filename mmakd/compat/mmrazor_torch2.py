"""Let MMRazor 1.0.0 import under torch 2.x.

MMRazor 1.0.0 builds FX-quantization tables at import time in two modules under
``mmrazor/structures/quantization/backend_config/``, behind the gate
``digit_version(torch.__version__) >= digit_version('1.13.0')``. Those tables use
torch names that torch 2.x removed, so ``import mmrazor.models`` fails. Upstream
narrowed both gates to torch 1.13.x after the release; the fix never reached PyPI.

This module applies exactly that change, and nothing else, by compiling the two
modules from their own source with the gate narrowed. The installed files are
not modified. If the gate text is not found (a fixed MMRazor), the modules load
unchanged.
"""
import importlib.abc
import importlib.machinery
import sys
from typing import Optional, Sequence

import torch
from mmengine.utils import digit_version

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


class _NarrowedGateFinder(importlib.abc.MetaPathFinder):
    """Finds the two gated modules and hands them to the narrowing loader."""

    def find_spec(self,
                  fullname: str,
                  path: Optional[Sequence[str]],
                  target=None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname not in GATED_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader,
                                          importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _NarrowedGateLoader(fullname, spec.origin)
        return spec


def needs_fix() -> bool:
    """Whether the running torch is one that the release's gate breaks."""
    return digit_version(torch.__version__) >= digit_version('2.0.0')


def install() -> None:
    """Installs the import hook once; it must precede ``import mmrazor.models``.

    Under torch 2.x an unfixed ``import mmrazor.models`` fails and leaves
    nothing in ``sys.modules``, so installing late still fixes the next import.
    """
    if needs_fix() and not any(
            isinstance(f, _NarrowedGateFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _NarrowedGateFinder())
