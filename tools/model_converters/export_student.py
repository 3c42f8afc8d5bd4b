"""Export the student of a distillation run as a plain mmdet/mmseg model.

Usage::

    python tools/model_converters/export_student.py CONFIG CHECKPOINT \\
        --out DIR [--force] [--cfg-options KEY=VALUE ...]

Writes two files to ``DIR``:

- ``<config name>_student.py``: the student as a plain mmdet or mmseg config
  (its architecture, with the data, evaluation and schedule of ``CONFIG``):
  no distiller, no teacher, no mmakd import needed;
- ``<checkpoint name>_student.pth``: the student's weights (the
  ``architecture.`` part of ``CHECKPOINT``) and plain metadata, loadable with
  ``torch.load(..., weights_only=True)`` and without mmakd.

Then, e.g. ``mmdet.apis.init_detector(config, checkpoint)`` or
``mmseg.apis.init_model(config, checkpoint)``. The student weights are
checked against the student model before anything is written.
"""
import argparse
import copy
import os
import os.path as osp
import sys
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader

import mmakd  # noqa: F401  (compat fixes, registries)
from mmakd.utils import resolve_cfg_paths

#: Top-level keys of a distillation config that only the distillation uses.
DISTILL_ONLY_KEYS = ('teacher_ckpt', 'teacher_ckpts', 'akd_hooks')
#: Hooks that act on a distiller: not in the student's own config.
DISTILL_ONLY_HOOKS = ('DistillLossCheckHook', 'AvatarStatsHook',
                      'StopDistillHook')
STUDENT_PREFIX = 'architecture.'


class ExportError(ValueError):
    """The config or checkpoint cannot give a student."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export the student of a distillation checkpoint as a '
        'plain mmdet/mmseg config and checkpoint')
    parser.add_argument('config', help='distillation config file path')
    parser.add_argument('checkpoint', help='distillation checkpoint')
    parser.add_argument(
        '--out', required=True, help='output directory (must not exist)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='write into --out even if it exists (files of the same name '
        'are replaced)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy pairs merged into the '
        'distillation config before the export')
    return parser.parse_args(argv)


def student_model_cfg(cfg: Config) -> Tuple[Dict, str]:
    """The student's model config and the scope it is built in.

    ``model.architecture`` of a MMRazor distillation algorithm, with any
    ``cfg_path`` expanded, the algorithm's ``data_preprocessor`` (which the
    student ran with while distilling) when it has one, and its ``_scope_``
    taken out (it becomes the config's ``default_scope``).

    Raises:
        ExportError: ``cfg.model`` has no ``architecture``.
    """
    model = cfg.get('model') or {}
    if 'architecture' not in model:
        raise ExportError(
            f'{cfg.filename}: `model.architecture` (the student) is missing; '
            'expected a MMRazor distillation config such as '
            "model = dict(type='MMAKDFpnTeacherDistill', architecture=..., "
            'teacher=..., distiller=...), but `model` has the keys '
            f'{sorted(model)}')
    student = resolve_cfg_paths(copy.deepcopy(model.architecture))
    student = student.to_dict() if isinstance(student, ConfigDict) \
        else dict(student)
    if model.get('data_preprocessor'):
        student['data_preprocessor'] = copy.deepcopy(
            model.data_preprocessor.to_dict() if isinstance(
                model.data_preprocessor, ConfigDict) else
            model.data_preprocessor)
    scope = student.pop('_scope_', None) or cfg.get('default_scope')
    if scope in (None, 'mmrazor'):
        raise ExportError(
            f'{cfg.filename}: cannot tell which package builds the student '
            f'{student.get("type")!r}; give `model.architecture._scope_` '
            "('mmdet' or 'mmseg')")
    return student, scope


def student_config(cfg: Config) -> Config:
    """The whole student config: ``cfg`` with the student as its model."""
    student, scope = student_model_cfg(cfg)
    exported = copy.deepcopy(cfg.to_dict())
    for key in DISTILL_ONLY_KEYS:
        exported.pop(key, None)
    exported['model'] = student
    exported['default_scope'] = scope
    hooks = [
        hook for hook in exported.pop('custom_hooks', None) or []
        if str(hook.get('type')).split('.')[-1] not in DISTILL_ONLY_HOOKS
    ]
    if hooks:
        exported['custom_hooks'] = hooks
    imports = (exported.pop('custom_imports', None) or {}).get('imports', [])
    imports = [
        m for m in ([imports] if isinstance(imports, str) else imports)
        if m != 'mmakd' and not m.startswith('mmakd.')
    ]
    if imports:
        exported['custom_imports'] = dict(
            imports=imports, allow_failed_imports=False)
    return Config(exported)


def _plain(value: Any) -> Any:
    """``value`` with numpy objects as Python ones; None if not plain data.

    What ``torch.load(weights_only=True)`` reads without any allow-list.
    """
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return type(value)(items) if None not in items else None
    if isinstance(value, dict):
        items = {str(k): _plain(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None}
    return None


def student_checkpoint(checkpoint: Dict, source: str) -> Dict:
    """The student's weights and plain metadata of a distillation checkpoint.

    Raises:
        ExportError: no ``architecture.`` weights in ``checkpoint``.
    """
    state = checkpoint.get('state_dict', checkpoint)
    state = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state.items()
    }
    weights = {
        k[len(STUDENT_PREFIX):]: v
        for k, v in state.items() if k.startswith(STUDENT_PREFIX)
    }
    if not weights:
        shown = ', '.join(list(state)[:5])
        raise ExportError(
            f'{source} is not a distillation checkpoint: it has no student '
            f'weights (keys under "{STUDENT_PREFIX}"); its first keys are '
            f'{shown or "none"}. Give the checkpoint that tools/train.py '
            'wrote for the distillation config')
    meta = _plain(dict(checkpoint.get('meta') or {}))
    meta['exported_from'] = osp.abspath(source)
    return dict(meta=meta, state_dict=weights)


def check_weights(model_cfg: Dict, scope: str, weights: Dict,
                  source: str) -> None:
    """Builds the student and loads ``weights`` strictly.

    Raises:
        ExportError: a key is missing, unexpected or of another shape.
    """
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(copy.deepcopy(model_cfg))
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise ExportError(
            f'the student weights in {source} do not fit the student of the '
            f'config ({model_cfg.get("type")}): {err}') from None


def export_student(config: Config, checkpoint_path: str, out: str,
                   force: bool = False) -> Tuple[str, str]:
    """Writes the student's config and checkpoint to ``out``.

    Everything is checked before ``out`` is created.

    Returns:
        tuple[str, str]: The paths of the config and the checkpoint written.
    """
    if osp.exists(out) and not force:
        raise ExportError(f'--out {out} exists; choose a new directory or '
                          'pass --force to write into it')
    if not osp.isfile(checkpoint_path):
        raise ExportError(f'checkpoint {checkpoint_path} does not exist')
    exported_cfg = student_config(config)
    checkpoint = CheckpointLoader.load_checkpoint(
        checkpoint_path, map_location='cpu')
    exported_ckpt = student_checkpoint(checkpoint, checkpoint_path)
    check_weights(exported_cfg.model.to_dict(), exported_cfg.default_scope,
                  exported_ckpt['state_dict'], checkpoint_path)

    os.makedirs(out, exist_ok=True)
    name = osp.splitext(osp.basename(config.filename or 'model.py'))[0]
    cfg_file = osp.join(out, f'{name}_student.py')
    ckpt_name = osp.splitext(osp.basename(checkpoint_path))[0]
    ckpt_file = osp.join(out, f'{ckpt_name}_student.pth')
    exported_cfg.dump(cfg_file)
    torch.save(exported_ckpt, ckpt_file)
    return cfg_file, ckpt_file


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        cfg_file, ckpt_file = export_student(cfg, args.checkpoint, args.out,
                                             args.force)
    except ExportError as err:
        print(f'export_student.py: error: {err}', file=sys.stderr)
        return 2
    print(f'student config:     {cfg_file}\nstudent checkpoint: {ckpt_file}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
