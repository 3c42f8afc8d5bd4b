"""The narrow fixes that ``import mmakd`` applies to the OpenMMLab stack.

Nothing here runs unless ``mmakd`` is imported (by a config's
``custom_imports``, by mmakd's tools, or by ``python -m mmakd.run SCRIPT``
for another package's script). Each fix acts only where the installed
versions are affected, records what it did (:func:`report`; ``python -m
mmakd_compat`` prints it), and warns once, naming itself and
``docs/process-changes.md``, where the installed version is affected but the
fix cannot apply:

- ``mmrazor-torch2-gate`` (:mod:`~mmakd_compat.mmrazor_torch2`): MMRazor
  1.0.0 does not import on torch 2.x; two of its modules are compiled with
  their torch gate narrowed, as upstream did after the release.
- ``mmrazor-mmcv-gate-onedl`` (:mod:`~mmakd_compat.onedl_forks`): on the
  ONEDL fork of mmcv, MMRazor's mmcv gate is compiled with the fork's tested
  version as its bound.
- ``torch-weights-only`` (:mod:`~mmakd_compat.checkpoint`): torch >= 2.6
  refuses the checkpoints mmengine's Runner writes; exactly the globals they
  hold are allow-listed.
- ``mmakd-config-names`` and ``mmakd-editable-configs``
  (:mod:`~mmakd_compat.mmakd_configs`): ``mmakd::`` config names.
- ``mmseg-configs-onedl`` (:mod:`~mmakd_compat.onedl_forks`): ``mmseg::``
  config names on ``onedl-mmsegmentation``.

The two source patches act through a finder that is on ``sys.meta_path``
only while :func:`apply` imports MMRazor.
"""
from . import checkpoint, mmakd_configs, mmrazor_torch2, onedl_forks
from .source_patch import import_patched
from .status import DOCS, FixState, report

__all__ = ['DOCS', 'FixState', 'apply', 'import_mmrazor', 'report']


def import_mmrazor() -> None:
    """Imports ``mmrazor.models`` with the source patches the installed
    versions need (MMRazor's torch and mmcv gates), and records them."""
    import_patched(
        'mmrazor.models',
        onedl_forks.mmcv_gate_patches() + mmrazor_torch2.gate_patches())


def apply() -> None:
    """Every fix, in the order ``import mmakd`` needs them: MMRazor first
    (mmakd's modules import it), then the checkpoint allow-list and the
    config names."""
    import_mmrazor()
    checkpoint.allow_mmengine_checkpoints()
    mmakd_configs.apply()
    onedl_forks.point_mmseg_at_the_fork()
