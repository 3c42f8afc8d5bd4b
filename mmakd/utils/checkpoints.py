"""Reading checkpoints, and saying how one does not fit a model."""
import pickle
from typing import Any, Dict, List

from mmengine.runner import CheckpointLoader
from torch import nn


class TeacherCheckpointUnreadable(RuntimeError):
    """A checkpoint (``teacher_ckpt``, ``tokens_ckpt``) cannot be read
    (empty, truncated, not a checkpoint)."""


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


def read_checkpoint(filename: str,
                    arg: str = 'teacher_ckpt') -> Dict[str, Any]:
    """Reads a checkpoint, with a named error when it cannot be read.

    Args:
        filename (str): Path or URL of the checkpoint.
        arg (str): The config key that names it, for the messages.
            Defaults to ``'teacher_ckpt'``.

    Returns:
        dict: The checkpoint, as saved.

    Raises:
        TeacherCheckpointUnreadable: The file cannot be read as a
            checkpoint dict.
    """
    try:
        checkpoint = CheckpointLoader.load_checkpoint(
            filename, map_location='cpu')
    except FileNotFoundError:
        raise
    except Exception as err:  # EOFError, UnpicklingError, zip errors, ...
        if isinstance(err, pickle.UnpicklingError):
            hint = ('it holds objects that torch.load(weights_only=True) '
                    'refuses')
        elif '://' in str(filename):
            hint = ('is the address reachable from here? Download it and '
                    f'set `{arg}` to the local file, or check that the '
                    'download completed')
        else:
            hint = ('is the file complete? An interrupted copy or download '
                    'leaves it empty or truncated')
        raise TeacherCheckpointUnreadable(
            f'{arg}={filename!r} cannot be read as a checkpoint '
            f'({type(err).__name__}: {err}); {hint}') from err
    if not isinstance(checkpoint, dict):
        raise TeacherCheckpointUnreadable(
            f'{arg}={filename!r} holds a {type(checkpoint).__name__}, '
            'not a checkpoint dict (a state_dict, or a dict with one under '
            '"state_dict")')
    return checkpoint
