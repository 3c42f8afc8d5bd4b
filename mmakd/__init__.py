"""mmakd: Avatar Knowledge Distillation for OpenMMLab (MMRazor 1.x).

Importing :mod:`mmakd` (directly, or with
``custom_imports = dict(imports=['mmakd'])`` in a config) first applies the
narrow compatibility fixes of :mod:`mmakd_compat`, then registers mmakd's
components in MMRazor's ``MODELS`` and ``HOOKS`` registries, and makes
loading a distillation checkpoint into a plain model an error
(:mod:`mmakd.utils.checkpoint_guard`).
"""
import mmakd_compat

mmakd_compat.apply_now()  # must precede every mmrazor.models import

from . import engine, models  # noqa: F401,E402
from .utils import checkpoint_guard  # noqa: E402
from .version import __version__  # noqa: E402

checkpoint_guard.guard_mmengine_load_state_dict()

__all__ = ['__version__']
