"""The base losses that AKD wraps: what each needs, in one table.

Each entry of :data:`BASE_LOSSES` declares, for one distillation loss
registered in MMRazor's ``MODELS``, what ``UncertaintyAwareKDLoss`` and
``AvatarDistiller`` need of it:

- its student and teacher arguments (the teacher becomes the Avatars);
- its ``uncertainty='release'`` form (:data:`RELEASE_FORMS`, what the
  authors' release standardises for it);
- whether N Avatars go through it in one call, stacked along the batch
  (``stacking``), instead of one call per Avatar;
- what the distiller prepares for it (``prepare``: MGD's release order
  standardises the student inside its ``MGDConnector``).

Adding a base loss is one entry here and its case in
``tests/test_models/test_losses/test_base_losses.py``. A loss that is not
in the table is wrapped, as :data:`OTHER_LOSS`, when its student and
teacher arguments are known: given (``student_key`` / ``teacher_key``), read
from a ``loss_forward_mappings`` entry with one teacher record, or named as
the table's are; otherwise the error lists the table.
"""
import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from mmrazor.models.architectures.connectors import MGDConnector
from mmrazor.registry import MODELS
from torch import nn
from torch.utils.hooks import RemovableHandle

from .uncertainty import standardise

#: What ``uncertainty='release'`` standardises, per form (the authors'
#: ``akd_cwd.py``, ``akd_mgd.py`` and ``akd_maskd.py``).
RELEASE_FORMS = {
    # akd_cwd.py: BatchNorm on the student; the dropout Avatar stays raw.
    'student': 'the student only; the Avatars stay raw (CWD)',
    # akd_mgd.py: BatchNorm on the raw student before MGD's masking and
    # generation, and on the Avatar.
    'before_generation': 'the student before its MGDConnector generates, '
    'and the Avatars (MGD)',
    # akd_maskd.py: BatchNorm on both.
    'both': 'the student and each Avatar (every other loss)',
}


@dataclass(frozen=True)
class BaseLoss:
    """What AKD needs of one base loss.

    Args:
        student_key (str): The ``forward`` argument that takes the student.
        teacher_key (str): The argument that takes the teacher.
        release (str): Its ``uncertainty='release'`` form, a key of
            :data:`RELEASE_FORMS`. Subclasses of the loss inherit it.
        stacking (callable, optional): ``loss -> 'repeat' | 'broadcast' |
            None``: how the loss takes N Avatars in one call (see
            :func:`stacking_of`); None: one call per Avatar. Only the
            registered class itself stacks: a subclass may reduce
            otherwise.
        prepare (callable, optional): ``(loss_name, student_key,
            connector_name, connector) -> None``, run by ``AvatarDistiller``
            on the student input's connector (None where it has none) with
            ``uncertainty='release'``; it raises where the connector does
            not fit.
    """
    student_key: str
    teacher_key: str
    release: str = 'both'
    stacking: Optional[Callable[[nn.Module], Optional[str]]] = None
    prepare: Optional[Callable[..., None]] = None


def _batch_mean(loss: nn.Module) -> str:
    """CWD: ``sum / (C * batch)``, a batch mean of per-sample sums: the
    student repeated N times (CWD ``view``s its inputs, so the copy is
    needed) against the Avatars ``(N * B, ...)`` is the mean over Avatars.
    """
    return 'repeat'


def _l2_stacking(loss: nn.Module) -> Optional[str]:
    """L2: ``sum / numel`` or ``sum / batch``, a mean, unless ``dist``
    (the square root of the total is no mean). With ``normalize`` (per
    sample) as CWD; without, the student ``(B, ...)`` broadcasts against
    the Avatars ``(N, B, ...)`` with no copy, and the result, divided by the
    student's size, is divided by N."""
    if loss.dist:
        return None
    return 'repeat' if loss.normalize else 'broadcast'


def _standardise_in_mgd_connector(loss_name: str, student_key: str,
                                  connector_name: Optional[str],
                                  connector: Optional[nn.Module]) -> None:
    """The release's MGD order: the student standardised before MGD's
    masking and generation, i.e. inside its ``MGDConnector``."""
    if not isinstance(connector, MGDConnector):
        raise ValueError(
            f"AvatarDistiller: loss {loss_name!r} (MGD with uncertainty="
            "'release') standardises the student before MGD's masking and "
            'generation, so its student input '
            f'`{student_key}` must go through an MGDConnector, but its '
            f'connector is {connector_name!r} ({type(connector).__name__}); '
            "use uncertainty='official' for this loss")
    standardise_before_generation(connector)


#: Registered name -> what AKD needs of that base loss.
BASE_LOSSES: Dict[str, BaseLoss] = {
    'ChannelWiseDivergence': BaseLoss(
        'preds_S', 'preds_T', release='student', stacking=_batch_mean),
    'MGDLoss': BaseLoss(
        'preds_S', 'preds_T', release='before_generation',
        prepare=_standardise_in_mgd_connector),
    # PKD normalises with batch statistics: one call per Avatar.
    'PKDLoss': BaseLoss('preds_S', 'preds_T'),
    'L2Loss': BaseLoss('s_feature', 't_feature', stacking=_l2_stacking),
    'L1Loss': BaseLoss('s_feature', 't_feature'),
    'KLDivergence': BaseLoss('preds_S', 'preds_T'),
    # FGD and MasKD draw their masks per call: one call per Avatar.
    'MMAKDFGDLoss': BaseLoss('preds_S', 'preds_T'),
    'MasKDLoss': BaseLoss('preds_S', 'preds_T'),
}

#: A loss not in :data:`BASE_LOSSES`, its arguments given: the release
#: form of 'every other loss' and one call per Avatar.
OTHER_LOSS = dict(release='both', stacking=None, prepare=None)


def table_text() -> str:
    """The table for error messages: ``name (student, teacher)`` each."""
    return ', '.join(f'{name} ({spec.student_key}, {spec.teacher_key})'
                     for name, spec in BASE_LOSSES.items())


def entry_of(base_loss: nn.Module) -> Tuple[Optional[str], Optional[BaseLoss]]:
    """The table entry of ``base_loss``: its own class's, else the nearest
    registered base class's (None, None where there is none).

    Args:
        base_loss (nn.Module): A built distillation loss.

    Returns:
        tuple: ``(registered name, BaseLoss)`` or ``(None, None)``.
    """
    return _entry_of_class(type(base_loss))


@functools.lru_cache(maxsize=None)
def _entry_of_class(
        loss_cls: type) -> Tuple[Optional[str], Optional[BaseLoss]]:
    # Once per class: the wrapper asks at every forward (stacking, the
    # release form), and each registry lookup resolves scopes.
    registered = {MODELS.get(name): name for name in BASE_LOSSES}
    for cls in loss_cls.__mro__:
        if cls in registered:
            return registered[cls], BASE_LOSSES[registered[cls]]
    return None, None


def release_form(base_loss: nn.Module) -> str:
    """Which inputs ``uncertainty='release'`` standardises for ``base_loss``.

    Args:
        base_loss (nn.Module): The wrapped distillation loss.

    Returns:
        str: A key of :data:`RELEASE_FORMS`.
    """
    spec = entry_of(base_loss)[1]
    return spec.release if spec else OTHER_LOSS['release']


def stacking_of(base_loss: nn.Module) -> Optional[str]:
    """How ``base_loss`` takes N Avatars in one call, or None (per Avatar).

    ``'repeat'``: the student repeated N times along the batch against the
    Avatars ``(N * B, ...)``; ``'broadcast'``: the student ``(B, ...)``
    against the Avatars ``(N, B, ...)``, the result divided by N. Either
    gives the mean of the N per-Avatar values. Only the registered class
    of an entry with ``stacking`` (see :class:`BaseLoss`).

    Args:
        base_loss (nn.Module): The wrapped loss.

    Returns:
        str | None: ``'repeat'``, ``'broadcast'`` or None.
    """
    name, spec = entry_of(base_loss)
    if spec is None or spec.stacking is None or \
            type(base_loss) is not MODELS.get(name):
        return None
    return spec.stacking(base_loss)


def prepare_of(base_loss: nn.Module) -> Optional[Callable]:
    """The distiller-side preparation of ``base_loss`` under
    ``uncertainty='release'`` (see :class:`BaseLoss`), or None."""
    spec = entry_of(base_loss)[1]
    return spec.prepare if spec else None


def repeat_along_batch(x: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, ...)`` as ``(n * B, ...)``: n copies along the batch.

    Contiguous: losses such as CWD call ``.view`` on their inputs, and with
    ``B == 1`` ``flatten`` of the expanded view would stay a strided view.
    """
    return x.repeat(n, *([1] * (x.dim() - 1)))


def resolve_keys(owner: str,
                 loss: str,
                 base_loss: nn.Module,
                 student_key: Optional[str] = None,
                 teacher_key: Optional[str] = None,
                 mapping: Optional[Dict] = None) -> Tuple[str, str]:
    """The (student, teacher) arguments of a base loss's ``forward``.

    Given keys are checked against its signature; otherwise, with a
    ``loss_forward_mappings`` entry, the teacher is its one
    ``from_student=False`` argument and the student the table's student
    argument where it pairs with that teacher, else the only student
    argument; without a mapping, the table's pair (for a loss outside the
    table, the first pair of the table's argument names in its signature).

    Args:
        owner (str): Who asks (named in the error): ``'AvatarDistiller'``
            or ``'UncertaintyAwareKDLoss'``.
        loss (str): The loss (named in the error): its name in
            ``distill_losses`` with ``mapping``, else its class name.
        base_loss (nn.Module): The built base loss.
        student_key (str, optional): Given student argument.
        teacher_key (str, optional): Given teacher argument.
        mapping (dict, optional): The loss's ``loss_forward_mappings``
            entry (argument -> record config). Defaults to None.

    Returns:
        tuple[str, str]: ``(student_key, teacher_key)``.

    Raises:
        ValueError: A given key is not an argument, both are the same, or
            they cannot be inferred (none or several candidates, or a loss
            outside the table).
    """
    signature = inspect.signature(base_loss.forward)
    spec = entry_of(base_loss)[1]
    if student_key is None and teacher_key is None and mapping is not None:
        return _keys_from_mapping(owner, loss, spec, mapping)
    if student_key is None and teacher_key is None:
        if spec is not None:
            return spec.student_key, spec.teacher_key
        # A loss outside the table: the table's argument names, if it has
        # them (mmengine-style losses share them).
        for pair in dict.fromkeys((s.student_key, s.teacher_key)
                                  for s in BASE_LOSSES.values()):
            if all(key in signature.parameters for key in pair):
                return pair
        raise ValueError(
            f'{owner}: {loss} is not in the table of base losses '
            f'(mmakd/models/losses/base_losses.py: {table_text()}) and '
            f'{loss}.forward{signature} has none of their argument names, '
            'so which argument is the student and which the teacher is '
            'unknown; set `student_key` and `teacher_key`, or add the loss '
            'to `BASE_LOSSES`')
    params = signature.parameters
    for arg, key in (('student_key', student_key), ('teacher_key',
                                                    teacher_key)):
        if key not in params:
            raise ValueError(f'{owner}: `{arg}`={key!r} is not an argument '
                             f'of {loss}.forward{signature}')
    if student_key == teacher_key:
        raise ValueError(f'{owner}: `student_key` and `teacher_key` are '
                         f'both {student_key!r}')
    return student_key, teacher_key


def _keys_from_mapping(owner: str, loss: str, spec: Optional[BaseLoss],
                       mapping: Dict[str, Any]) -> Tuple[str, str]:
    """:func:`resolve_keys` from a ``loss_forward_mappings`` entry."""
    teacher_keys = [
        key for key, record in mapping.items()
        if isinstance(record, dict) and record.get('from_student') is False
    ]
    if len(teacher_keys) != 1:
        raise ValueError(
            f'{owner}: loss {loss!r} reads {len(teacher_keys)} teacher '
            f'records ({teacher_keys}); write it as '
            "dict(type='UncertaintyAwareKDLoss', base_loss=..., "
            'teacher_key=..., student_key=...) to say which one becomes '
            'the Avatars, or list it in `exclude_losses`')
    teacher_key = teacher_keys[0]
    student_keys = [
        key for key, record in mapping.items()
        if isinstance(record, dict) and record.get('from_student')
    ]
    paired = [
        s.student_key for s in BASE_LOSSES.values()
        if s.teacher_key == teacher_key
    ] if spec is None else [spec.student_key]
    candidates = [k for k in student_keys if k in paired] or student_keys
    if len(candidates) != 1:
        raise ValueError(
            f'{owner}: cannot tell which student input of loss {loss!r} '
            f'({student_keys}) pairs with its teacher input '
            f'{teacher_key!r}; write it as an explicit '
            "dict(type='UncertaintyAwareKDLoss', student_key=..., ...)")
    return candidates[0], teacher_key


def standardise_before_generation(
        connector: MGDConnector) -> RemovableHandle:
    """Makes an ``MGDConnector`` standardise its input before it masks.

    The release's MGD + AKD standardises the student feature (after its
    channel-aligning conv, when there is one) and then masks it and runs
    the generation block on the standardised feature. In MMRazor 1.x that
    block is the student's ``MGDConnector``, so the standardisation goes in
    front of it: a forward hook on its ``align`` conv, or a forward
    pre-hook on the connector when it has none.

    Args:
        connector (MGDConnector): The student-side connector.

    Returns:
        RemovableHandle: The hook's handle (``.remove()`` undoes it).
    """
    if connector.align is not None:
        return connector.align.register_forward_hook(_standardised_output)
    return connector.register_forward_pre_hook(_standardised_input)


def _same_dtype(fn: Callable[[torch.Tensor], torch.Tensor],
                x: torch.Tensor) -> torch.Tensor:
    return fn(x).to(x.dtype)


def _standardised_output(module: nn.Module, args: Any,
                         output: torch.Tensor) -> torch.Tensor:
    return _same_dtype(standardise, output)


def _standardised_input(module: nn.Module, args: tuple) -> Optional[tuple]:
    return (_same_dtype(standardise, args[0]), ) + tuple(args[1:])
