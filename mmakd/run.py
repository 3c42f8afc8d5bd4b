"""Run another package's script with mmakd imported first.

Usage::

    python -m mmakd.run SCRIPT [ARGS...]
    torchrun --nproc-per-node 2 -m mmakd.run SCRIPT [ARGS...] \
        --launcher pytorch

Imports :mod:`mmakd` (which applies its fixes, docs/process-changes.md),
then runs ``SCRIPT`` as ``__main__`` with ``sys.argv = [SCRIPT, *ARGS]`` and
the script's folder first on ``sys.path``, as ``python SCRIPT ARGS`` would.
The script's exceptions and exit code are its own. Needed for the scripts of
MMRazor, mmdet and mmseg (``tools/train.py``, ``tools/test.py``,
``convert_kd_ckpt_to_student.py``), which import ``mmrazor.models`` or parse
a config's ``_base_`` before they read its ``custom_imports``; not needed for
mmakd's own tools, nor for a config with ``custom_imports=['mmakd']`` run by
a script that reads ``custom_imports`` first.

A missing script, a directory, or a file that is not Python exits with code
2 and the reason, before the script runs.
"""
import os.path as osp
import runpy
import sys
from typing import List, Optional

__all__ = ['main', 'script_problem']

USAGE = 'usage: python -m mmakd.run SCRIPT [ARGS...]'


def script_problem(script: str) -> Optional[str]:
    """Why ``script`` cannot be run as a Python script; None if it can.

    Args:
        script: The path given on the command line.

    Returns:
        str | None: The reason, naming the path.
    """
    if not osp.exists(script):
        return f'SCRIPT {script!r}: no such file'
    if osp.isdir(script):
        return f'SCRIPT {script!r} is a directory, expected a Python file'
    try:
        with open(script, 'rb') as f:
            source = f.read()
    except OSError as error:
        return f'SCRIPT {script!r} cannot be read: {error}'
    try:
        compile(source, script, 'exec', dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        return (f'SCRIPT {script!r} is not a Python file '
                f'({type(error).__name__}: {error})')
    return None


def main(argv: Optional[List[str]] = None) -> None:
    """Imports mmakd, then runs the script that ``argv`` names.

    Args:
        argv: ``[SCRIPT, *ARGS]``; ``sys.argv[1:]`` by default.

    Raises:
        SystemExit: 2 for a usage error or a script that cannot run; the
            script's own ``SystemExit`` otherwise.
    """
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('-h', '--help'):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        raise SystemExit(2 if not argv else 0)
    script = argv[0]
    problem = script_problem(script)
    if problem is not None:
        print(f'mmakd.run: {problem}\n{USAGE}', file=sys.stderr)
        raise SystemExit(2)
    import mmakd  # noqa: F401  (its fixes, before the script's imports)
    sys.argv = [script, *argv[1:]]
    sys.path[0] = osp.dirname(osp.abspath(script))
    runpy.run_path(script, run_name='__main__')


if __name__ == '__main__':
    main()
