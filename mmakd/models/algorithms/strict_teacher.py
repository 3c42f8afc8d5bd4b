"""Teacher checkpoints that do not match the teacher are an error.

MMRazor's ``SingleTeacherDistill`` loads ``teacher_ckpt`` with
``strict=False``: wrong keys only warn and training goes on with a random
teacher. mmakd re-registers ``SingleTeacherDistill`` and ``FpnTeacherDistill``
under their own names in MMRazor's registry with strict loading, so every
existing recipe gets the check without a config change. ``teacher_ckpt_strict=
False`` restores the partial load on purpose.
"""
import pickle
from typing import Any, Dict, List, Optional

from mmengine.runner import CheckpointLoader, load_state_dict
from mmrazor.models.algorithms import FpnTeacherDistill as _FpnTeacherDistill
from mmrazor.models.algorithms import \
    SingleTeacherDistill as _SingleTeacherDistill
from mmrazor.registry import MODELS
from torch import nn


class TeacherCheckpointMismatch(RuntimeError):
    """``teacher_ckpt`` does not fit the teacher model."""


class TeacherCheckpointUnreadable(RuntimeError):
    """``teacher_ckpt`` cannot be read (empty, truncated, not a checkpoint)."""


#: Keys a checkpoint may lack without being another architecture's:
#: BatchNorm's counters (absent from older, e.g. Caffe-converted, checkpoints
#: and unused in eval; mmengine's loader ignores them too) and
#: AvatarDistiller's random state (absent from base-KD checkpoints).
OPTIONAL_KEYS = ('num_batches_tracked', '_extra_state')


def state_dict_mismatches(model: nn.Module,
                          state_dict: Dict[str, Any],
                          name: str = 'teacher') -> List[str]:
    """Describes each key that is missing, unexpected or of the wrong shape.

    Args:
        model (nn.Module): The model the checkpoint should fit.
        state_dict (dict): The checkpoint's weights.
        name (str): What to call the model in the messages.

    Returns:
        list[str]: One line per problem; empty if the checkpoint fits.
    """
    own = model.state_dict()
    lines = [
        f'missing in checkpoint: {k}' for k in own
        if k not in state_dict and not k.endswith(OPTIONAL_KEYS)
    ]
    lines += [
        f'unexpected in checkpoint: {k}' for k in state_dict if k not in own
    ]
    lines += [
        f'shape of {k}: checkpoint {tuple(v.shape)}, {name} '
        f'{tuple(own[k].shape)}' for k, v in state_dict.items()
        if k in own and hasattr(v, 'shape') and v.shape != own[k].shape
    ]
    return lines


def unwrapped_keys(state_dict: Dict[str, Any]) -> Dict[str, Any]:
    """``state_dict`` without the ``module.`` prefix that a model saved
    inside ``DataParallel`` / ``DistributedDataParallel`` has."""
    return {
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in state_dict.items()
    }


def problem_list(problems: List[str], limit: int) -> str:
    """The first ``limit`` of ``problems``, one indented line each, and how
    many more there are."""
    more = f'\n  ... and {len(problems) - limit} more' \
        if len(problems) > limit else ''
    return '\n  ' + '\n  '.join(problems[:limit]) + more


def load_teacher_checkpoint(teacher: nn.Module,
                            filename: str,
                            strict: bool = True) -> Dict[str, Any]:
    """Loads ``filename`` into ``teacher``, refusing a mismatch when strict.

    Args:
        teacher (nn.Module): The teacher model.
        filename (str): Path or URL of the checkpoint (``teacher_ckpt``).
        strict (bool): Raise on any missing, unexpected or mis-shaped key.
            Defaults to True.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        TeacherCheckpointUnreadable: the file cannot be read as a checkpoint.
        TeacherCheckpointMismatch: when ``strict`` and the keys differ.
    """
    try:
        checkpoint = CheckpointLoader.load_checkpoint(
            filename, map_location='cpu')
    except FileNotFoundError:
        raise
    except Exception as err:  # EOFError, UnpicklingError, zip errors, ...
        hint = ('it holds objects that torch.load(weights_only=True) '
                'refuses' if isinstance(err, pickle.UnpicklingError) else
                'is the file complete? An interrupted copy or download '
                'leaves it empty or truncated')
        raise TeacherCheckpointUnreadable(
            f'teacher_ckpt={filename!r} cannot be read as a checkpoint '
            f'({type(err).__name__}: {err}); {hint}') from err
    if not isinstance(checkpoint, dict):
        raise TeacherCheckpointUnreadable(
            f'teacher_ckpt={filename!r} holds a {type(checkpoint).__name__}, '
            'not a checkpoint dict (a state_dict, or a dict with one under '
            '"state_dict")')
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = unwrapped_keys(state_dict)
    problems = state_dict_mismatches(teacher, state_dict)
    if strict and problems:
        raise TeacherCheckpointMismatch(
            f'teacher_ckpt={filename!r} does not match the teacher model '
            f'({len(problems)} problems):{problem_list(problems, 30)}\n'
            'Check that `teacher` is the architecture the checkpoint was '
            'trained with. To load a partial teacher on purpose, set '
            '`teacher_ckpt_strict=False` in the algorithm config.')
    if strict:
        # Checked above; only BatchNorm counters may be absent.
        teacher.load_state_dict(state_dict, strict=False)
    else:  # mmengine's loader skips mis-shaped keys, with a warning
        load_state_dict(teacher, state_dict, strict=False)
    return checkpoint


class StrictTeacherCheckpointMixin:
    """Loads ``teacher_ckpt`` strictly unless ``teacher_ckpt_strict=False``.

    Args:
        teacher_ckpt (str, optional): Path of the teacher's checkpoint.
            Defaults to None.
        teacher_ckpt_strict (bool): Whether a checkpoint that does not match
            the teacher stops training. Defaults to True.
    """

    def __init__(self,
                 *args,
                 teacher_ckpt: Optional[str] = None,
                 teacher_ckpt_strict: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, teacher_ckpt=None, **kwargs)
        self.teacher_ckpt = teacher_ckpt
        if teacher_ckpt:
            load_teacher_checkpoint(self.teacher, teacher_ckpt,
                                    teacher_ckpt_strict)
            # As MMRazor does: keep init_weights() from overwriting it.
            self.teacher._is_init = True


@MODELS.register_module(name='SingleTeacherDistill', force=True)
class SingleTeacherDistill(StrictTeacherCheckpointMixin,
                           _SingleTeacherDistill):
    """MMRazor's ``SingleTeacherDistill`` with a strict ``teacher_ckpt``."""


@MODELS.register_module(name='FpnTeacherDistill', force=True)
class FpnTeacherDistill(StrictTeacherCheckpointMixin, _FpnTeacherDistill):
    """MMRazor's ``FpnTeacherDistill`` with a strict ``teacher_ckpt``."""
