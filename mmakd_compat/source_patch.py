"""Importing a module compiled from its own source with one line changed.

Two fixes of :mod:`mmakd_compat` need a line of an MMRazor module changed
before that module runs (a version gate evaluated at import time). A
:class:`SourcePatch` names the module, the line as shipped and its
replacement; :func:`import_patched` imports a module while a finder for
exactly the patched modules is first on ``sys.meta_path`` and takes the finder
off again when the import ends. The installed files are not modified and no
finder stays behind.
"""
import contextlib
import importlib
import importlib.machinery
import importlib.util
import os.path as osp
import sys
import types
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

__all__ = ['SourcePatch', 'import_patched', 'module_source']


@dataclass(frozen=True)
class SourcePatch:
    """One line of a module's source, replaced when the module is compiled.

    Args:
        module: The module's full name.
        line: The text as shipped.
        replacement: The text compiled instead.
    """
    module: str
    line: str
    replacement: str

    def applies_to(self, source: Optional[str]) -> bool:
        """Whether ``source`` holds :attr:`line` exactly once."""
        return source is not None and source.count(self.line) == 1


def module_source(fullname: str) -> Optional[str]:
    """The source of a module of an installed package, read without
    executing the module or its parent packages; None where not found.

    Args:
        fullname: Such as ``'mmrazor.structures.quantization.mapping'``.
    """
    top, _, rest = fullname.partition('.')
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        candidates = [spec.origin] if spec.origin else []
    else:
        relative = rest.replace('.', osp.sep)
        candidates = [
            path for folder in spec.submodule_search_locations or ()
            for path in (osp.join(folder, relative + '.py'),
                         osp.join(folder, relative, '__init__.py'))
        ]
    for path in candidates:
        if osp.isfile(path):
            with open(path, encoding='utf-8') as f:
                return f.read()
    return None


class _PatchedLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module with its :class:`SourcePatch` applied; the
    bytecode cache, which holds the line as shipped, is bypassed."""

    def __init__(self, fullname: str, path: str, patch: SourcePatch) -> None:
        super().__init__(fullname, path)
        self.patch = patch

    def get_code(self, fullname: str) -> types.CodeType:
        source = self.get_data(self.get_filename(fullname)).decode('utf-8')
        return compile(
            source.replace(self.patch.line, self.patch.replacement),
            self.get_filename(fullname),
            'exec',
            dont_inherit=True)


class _PatchFinder:
    """Finds the patched modules only; every other import passes by."""

    def __init__(self, patches: Sequence[SourcePatch]) -> None:
        self.patches = {patch.module: patch for patch in patches}

    def find_spec(self,
                  fullname: str,
                  path: Optional[Sequence[str]],
                  target: Optional[types.ModuleType] = None
                  ) -> Optional[importlib.machinery.ModuleSpec]:
        patch = self.patches.get(fullname)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and type(
                spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _PatchedLoader(fullname, spec.origin, patch)
        return spec


@contextlib.contextmanager
def _finder_for(patches: Sequence[SourcePatch]) -> Iterator[None]:
    finder = _PatchFinder(patches)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path[:] = [f for f in sys.meta_path if f is not finder]


def import_patched(name: str,
                   patches: Sequence[SourcePatch]) -> types.ModuleType:
    """Imports ``name`` with ``patches`` applied to the modules it imports.

    A patched module that is already imported stays as it is; so does one
    whose source no longer holds its line (the caller checks with
    :meth:`SourcePatch.applies_to` and warns).

    Args:
        name: The module to import (``'mmrazor.models'``).
        patches: The patches of the modules it may import.

    Returns:
        The imported module.
    """
    pending = [p for p in patches if p.module not in sys.modules]
    if not pending:
        return importlib.import_module(name)
    with _finder_for(pending):
        return importlib.import_module(name)
