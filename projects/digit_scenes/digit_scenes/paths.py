"""Where the project's files are, and the repository's it uses.

The demo trains with the repository's ``tools/train.py`` and keeps its data
and runs in the repository's ``data/`` and ``work_dirs/``, wherever it is
started from.
"""
import os.path as osp

#: ``projects/digit_scenes``.
PROJECT_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The repository root (``tools/``, ``data/``, ``work_dirs/``).
REPO_ROOT = osp.dirname(osp.dirname(PROJECT_ROOT))
#: The project's configs.
CONFIGS = osp.join(PROJECT_ROOT, 'configs')
