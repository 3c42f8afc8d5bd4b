"""A distillation checkpoint given for a plain model is an error in mmakd's
tools.

A checkpoint written while distilling holds the student under
``architecture.`` and the teacher under ``teacher.``. mmengine loads
checkpoints with ``strict=False`` (``load_checkpoint``, ``init_detector``,
mmseg's ``init_model``, a config's ``load_from``): given to a plain detector
or segmentor, every key is "unexpected", every weight "missing", a warning is
printed and the model keeps its random weights. mmakd's tools that load a
checkpoint into a model built from a config (``tools/test.py``) check it
first with :func:`check_checkpoint_file`, which raises
:class:`DistillationCheckpointError` naming the export tool. mmengine's
loaders themselves are not changed.
"""
from typing import Any, Mapping

from mmengine.model import is_model_wrapper
from torch import nn

from .checkpoints import read_checkpoint

#: Where MMRazor's distillation algorithms keep the student and the teacher.
DISTILL_PREFIXES = ('architecture.', 'teacher.')
EXPORT_TOOL = 'tools/model_converters/export_student.py'


class DistillationCheckpointError(RuntimeError):
    """A distillation checkpoint was loaded into a model without a teacher."""


def is_distillation_state(keys) -> bool:
    """Whether any key is a student or teacher weight of a distiller."""
    return any(k.startswith(DISTILL_PREFIXES) for k in keys)


def check_not_distillation_checkpoint(model: nn.Module,
                                      state_dict: Mapping[str, Any]) -> None:
    """Raises if ``state_dict`` is a distillation model's and ``model`` is not.

    Args:
        model (nn.Module): The model being loaded (a wrapper is unwrapped).
        state_dict (Mapping): The checkpoint's weights by key.

    Raises:
        DistillationCheckpointError: the checkpoint has ``architecture.`` or
            ``teacher.`` keys and the model has none.
    """
    if is_model_wrapper(model):
        model = model.module
    if not is_distillation_state(state_dict) or is_distillation_state(
            model.state_dict()):
        return
    raise DistillationCheckpointError(
        f'This checkpoint is a distillation model\'s (its '
        f'{sum(k.startswith("architecture.") for k in state_dict)} student '
        'weights are under "architecture." and the teacher under '
        f'"teacher."), but {type(model).__name__} is a plain model: mmengine '
        'would load none of its weights and keep random ones. Export the '
        f'student first:\n  python {EXPORT_TOOL} CONFIG CHECKPOINT --out '
        'DIR\nthen load the config and checkpoint it writes to DIR.')


def check_checkpoint_file(model: nn.Module, filename: str) -> None:
    """:func:`check_not_distillation_checkpoint` for a checkpoint file.

    Args:
        model (nn.Module): The model the file is for.
        filename (str): The checkpoint's path or URL.

    Raises:
        DistillationCheckpointError: as
            :func:`check_not_distillation_checkpoint`.
    """
    checkpoint = read_checkpoint(filename, arg='checkpoint')
    check_not_distillation_checkpoint(
        model, checkpoint.get('state_dict', checkpoint))
