"""Checks that the verified mmakd stack is installed and works.

Exit status 0 when complete, 1 otherwise (what is missing goes to stderr).
``tools/install.sh`` runs it first, so that a second install is a quick no-op.
"""
import argparse
import importlib
import importlib.metadata as metadata
import sys
from pathlib import Path

# Checked before anything is imported: did the start-up hook run?
STARTUP_HOOK_RAN = 'mmakd_compat' in sys.modules

ROOT = Path(__file__).resolve().parents[1]
# Imports that only succeed on a working install: compiled ops, fixed mmrazor.
IMPORT_CHECKS = {
    'torch': ('torch', ),
    'mmcv': ('mmcv.ops', ),
    'mmakd': ('mmakd', 'mmrazor.models')
}
SUMMARY = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation', 'mmrazor',
           'mmakd')


def requirements(only=None):
    """mmakd's pinned requirements, read from requirements/*.txt."""
    from packaging.requirements import Requirement
    lines = ['mmakd']
    for name in ('build', 'mminstall', 'runtime', 'demo', 'tests'):
        text = (ROOT / 'requirements' / f'{name}.txt').read_text()
        lines += [ln.split('#')[0].strip() for ln in text.splitlines()]
    reqs = [Requirement(ln) for ln in lines if ln]
    return [r for r in reqs if only in (None, r.name)]


def problems(only=None):
    """What is missing, of the wrong version, or fails to import."""
    try:
        reqs = requirements(only)
    except ImportError:
        return ['packaging: not installed']
    found = []
    for req in reqs:
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            found.append(f'{req.name}: not installed')
            continue
        if not req.specifier.contains(version, prereleases=True):
            found.append(f'{req.name}: {version} installed, {req} required')
    for name, modules in IMPORT_CHECKS.items():
        if found or only not in (None, name):
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
        elif not STARTUP_HOOK_RAN:
            found.append('mmakd-import-hook.pth: not in site-packages '
                         '(an install from before it existed)')
        elif not (ROOT / 'mmakd' / '.mim' / 'configs').is_dir():
            found.append('mmakd/.mim/configs: missing (`mmakd::` configs; '
                         'an editable install from before they existed)')
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quiet', action='store_true')
    parser.add_argument('--only', help='check one distribution, e.g. mmcv')
    parser.add_argument(
        '--summary', action='store_true', help='print installed versions')
    args = parser.parse_args()
    if args.summary:
        print(', '.join(f'{n} {metadata.version(n)}' for n in SUMMARY))
        return 0
    found = problems(args.only)
    if not args.quiet:
        print('\n'.join(found) or 'all mmakd requirements are installed',
              file=sys.stderr if found else sys.stdout)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
