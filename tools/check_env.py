"""Checks that the verified mmakd stack is installed and works.

Exit status 0 when complete, 1 otherwise (what is missing goes to stderr).
``tools/install.sh`` runs it first, so that a second install is a quick no-op.
``STACK=onedl`` (or ``--stack onedl``) checks the ONEDL forks of OpenMMLab's
packages instead (``requirements/onedl*.txt``). The versions must satisfy
the requirement files' ranges and the stack's constraints file
(``$CONSTRAINTS``, ``--constraints``; by default
``requirements/constraints.txt``, ``constraints-onedl.txt`` for the forks).
"""
import argparse
import importlib
import importlib.metadata as metadata
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Imports that only succeed on a working install: compiled ops, fixed mmrazor.
IMPORT_CHECKS = {
    'torch': ('torch', ),
    'mmcv': ('mmcv.ops', ),
    'mmakd': ('mmakd', 'mmrazor.models')
}
#: Per stack: the requirement files, the distributions of the summary and
#: the name of its mmcv distribution.
STACKS = {
    'openmmlab': dict(
        files=('build', 'mminstall', 'openmmlab', 'runtime', 'demo',
               'tests'),
        constraints='constraints',
        summary=('torch', 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation',
                 'mmrazor', 'mmakd'),
        mmcv='mmcv'),
    'onedl': dict(
        files=('build', 'onedl-mminstall', 'onedl', 'runtime', 'demo',
               'tests'),
        constraints='constraints-onedl',
        summary=('torch', 'onedl-mmengine', 'onedl-mmcv', 'onedl-mmdetection',
                 'onedl-mmsegmentation', 'mmrazor', 'mmakd'),
        mmcv='onedl-mmcv'),
}
#: OpenMMLab's distributions that must not sit beside their forks: both
#: install the same files, and uninstalling one deletes the other's.
FORKED = {
    'onedl-mmengine': 'mmengine',
    'onedl-mmcv': 'mmcv',
    'onedl-mmdetection': 'mmdet',
    'onedl-mmsegmentation': 'mmsegmentation',
}


def _lines(name):
    """The requirement lines of requirements/<name>.txt, with its -r files."""
    text = (ROOT / 'requirements' / f'{name}.txt').read_text()
    found = []
    for line in (ln.split('#')[0].strip() for ln in text.splitlines()):
        if line.startswith('-r '):
            found += _lines(line[3:].strip()[:-len('.txt')])
        elif line:
            found.append(line)
    return found


def constraints_file(stack='openmmlab', given=None):
    """The constraints file: ``given``, else ``$CONSTRAINTS``, else the
    stack's own."""
    given = given or os.environ.get('CONSTRAINTS')
    if given:
        return Path(given).resolve()
    return ROOT / 'requirements' / f"{STACKS[stack]['constraints']}.txt"


def requirements(only=None, stack='openmmlab', constraints=None):
    """mmakd's requirements (requirements/*.txt), each with the exact
    version of the constraints file where it names one."""
    from packaging.requirements import Requirement
    lines = ['mmakd']
    for name in STACKS[stack]['files']:
        lines += _lines(name)
    reqs = [Requirement(ln) for ln in lines]
    path = constraints_file(stack, constraints)
    text = path.read_text().splitlines()
    reqs += [Requirement(ln.split('#')[0]) for ln in text
             if ln.split('#')[0].strip()]
    return [r for r in reqs if only in (None, r.name)]


def problems(only=None, stack='openmmlab', constraints=None):
    """What is missing, of the wrong version, or fails to import."""
    try:
        reqs = requirements(only, stack, constraints)
    except ImportError:
        return ['packaging: not installed']
    found = []
    if stack == 'onedl':
        for fork, original in FORKED.items():
            try:
                metadata.version(fork)
                version = metadata.version(original)
            except metadata.PackageNotFoundError:
                continue
            found.append(
                f'{original} {version}: OpenMMLab\'s distribution is '
                f'installed beside {fork}, and both own the same files; '
                'build the environment anew (removing it deletes the '
                "fork's files too)")
    for req in reqs:
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            found.append(f'{req.name}: not installed')
            continue
        if not req.specifier.contains(version, prereleases=True):
            found.append(f'{req.name}: {version} installed, {req} required')
    mmcv = STACKS[stack]['mmcv']
    for name, modules in IMPORT_CHECKS.items():
        if found or only not in (None, mmcv if name == 'mmcv' else name):
            continue
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception as err:  # a broken build shows up here
                found.append(f'{module}: import fails ({err})')
    if not found and only in (None, 'mmakd'):
        where = Path(importlib.import_module('mmakd').__file__).parents[1]
        if where.resolve() != ROOT:
            found.append(f'mmakd: installed from {where}, not from {ROOT}')
        elif not (ROOT / 'mmakd' / '.mim' / 'configs').is_dir():
            found.append('mmakd/.mim/configs: missing (`mmakd::` configs; '
                         'an editable install from before they existed)')
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quiet', action='store_true')
    parser.add_argument('--only', help='check one distribution, e.g. mmcv')
    parser.add_argument(
        '--stack',
        choices=sorted(STACKS),
        default=os.environ.get('STACK') or 'openmmlab',
        help='which packages: OpenMMLab\'s (default) or the ONEDL forks '
        '(default: $STACK)')
    parser.add_argument(
        '--constraints',
        help='the constraints file of exact versions (default: '
        '$CONSTRAINTS, else the stack\'s requirements/constraints*.txt)')
    parser.add_argument(
        '--summary', action='store_true', help='print installed versions')
    args = parser.parse_args()
    if args.summary:
        print(', '.join(f'{n} {metadata.version(n)}'
                        for n in STACKS[args.stack]['summary']))
        return 0
    found = problems(args.only, args.stack, args.constraints)
    if not args.quiet:
        print('\n'.join(found) or 'all mmakd requirements are installed',
              file=sys.stderr if found else sys.stdout)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
