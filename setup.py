import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def parse_requirements(name: str) -> list:
    """Reads ``requirements/<name>.txt`` without comments or blank lines."""
    lines = (HERE / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [ln for ln in (re.sub(r'#.*', '', ln).strip() for ln in lines) if ln]


def get_version() -> str:
    text = (HERE / 'mmakd' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


setup(
    name='mmakd',
    version=get_version(),
    description='Avatar Knowledge Distillation (AKD) for OpenMMLab / MMRazor',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    keywords='knowledge distillation, object detection, segmentation',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    python_requires='>=3.8',
    # torch and mmcv are left to the user (CUDA builds), as OpenMMLab does.
    install_requires=parse_requirements('runtime'),
    extras_require=dict(
        mim=parse_requirements('mminstall'),
        tests=parse_requirements('tests')),
    license='Apache License 2.0',
    zip_safe=False)
