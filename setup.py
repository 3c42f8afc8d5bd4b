import os
import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
#: What an OpenMMLab package ships in ``<package>/.mim``, where mim and
#: mmengine's ``'mmakd::<path in configs>'`` names look: copied into a wheel,
#: linked from the checkout for an editable install.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def parse_requirements(name: str) -> list:
    """Reads ``requirements/<name>.txt`` without comments or blank lines,
    with the files it includes (``-r other.txt``)."""
    lines = (HERE / 'requirements' / f'{name}.txt').read_text().splitlines()
    found = []
    for line in (re.sub(r'#.*', '', ln).strip() for ln in lines):
        if line.startswith('-r '):
            found += parse_requirements(line[3:].strip()[:-len('.txt')])
        elif line:
            found.append(line)
    return found


def get_version() -> str:
    text = (HERE / 'mmakd' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


def add_mim_files(mim_dir: Path, link: bool) -> None:
    """Puts :data:`MIM_FILES` into ``mim_dir`` (replacing what is there).

    Args:
        mim_dir: ``mmakd/.mim`` of the build, or of the checkout.
        link: Link to the checkout's files (relative symlinks), as an
            editable install needs; copied where links cannot be made.
    """
    mim_dir.mkdir(parents=True, exist_ok=True)
    for name in MIM_FILES:
        src, dst = HERE.resolve() / name, mim_dir.resolve() / name
        if not src.exists():
            raise FileNotFoundError(f'{src}: needed in mmakd/.mim')
        if dst.is_symlink() or dst.is_file():
            dst.unlink()
        elif dst.is_dir():
            shutil.rmtree(dst)
        if link:
            try:
                dst.symlink_to(
                    os.path.relpath(src, dst.parent),
                    target_is_directory=src.is_dir())
                continue
            except OSError:  # e.g. Windows without the privilege
                pass
        if src.is_dir():
            shutil.copytree(
                src,
                dst,
                ignore=shutil.ignore_patterns('__pycache__', '*.py[cod]'))
        else:
            shutil.copy2(src, dst)


class BuildPyWithMimFiles(build_py):
    """build_py that also puts :data:`MIM_FILES` into ``mmakd/.mim``.

    An editable install (``pip install -e``) finds ``mmakd`` in the
    checkout, so its ``.mim`` links are made there (``mmakd/.mim`` is
    git-ignored).
    """

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            add_mim_files(HERE / 'mmakd' / '.mim', link=True)
        else:
            add_mim_files(Path(self.build_lib) / 'mmakd' / '.mim', link=False)


setup(
    name='mmakd',
    version=get_version(),
    description='Avatar Knowledge Distillation (AKD) for OpenMMLab / MMRazor',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    keywords='knowledge distillation, object detection, segmentation',
    # projects/ (the Digit Scenes demo) is not part of the package.
    packages=find_packages(
        exclude=('configs', 'tools', 'tests', 'docs', 'projects',
                 'projects.*')),
    python_requires='>=3.8',
    # Ranges only; the tested stack is requirements/constraints*.txt. torch
    # and mmcv are left to the user (CUDA builds), as OpenMMLab does, and
    # the packages that the ONEDL forks replace are extras, so that pip
    # never installs OpenMMLab's package over a fork.
    install_requires=parse_requirements('runtime'),
    extras_require={
        'openmmlab': parse_requirements('openmmlab'),
        'mim': parse_requirements('mminstall'),
        'onedl': parse_requirements('onedl'),
        'onedl-mim': parse_requirements('onedl-mminstall'),
        'demo': parse_requirements('demo'),
        'tests': parse_requirements('tests'),
    },
    cmdclass=dict(build_py=BuildPyWithMimFiles),
    license='Apache License 2.0',
    zip_safe=False)
