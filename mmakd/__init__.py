"""mmakd: Avatar Knowledge Distillation for OpenMMLab (MMRazor 1.x).

Importing :mod:`mmakd` (directly, with ``custom_imports =
dict(imports=['mmakd'])`` in a config, or through ``python -m mmakd.run
SCRIPT``) applies the narrow fixes of :mod:`mmakd_compat` that the installed
versions need (listed in docs/process-changes.md), then registers mmakd's
components under mmakd's own names in MMRazor's ``MODELS`` and ``HOOKS``
registries. Nothing else of another package is changed.
"""
import mmakd_compat

mmakd_compat.apply()  # must precede every mmrazor.models import

from . import engine, models  # noqa: F401,E402
from .version import __version__  # noqa: E402

__all__ = ['__version__']
