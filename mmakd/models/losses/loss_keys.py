"""Which arguments of a distillation loss take the student and the teacher."""
import inspect
from typing import Dict, Optional, Tuple

# (student, teacher) argument names of the losses in MMRazor and mmakd.
KNOWN_KEY_PAIRS = (('preds_S', 'preds_T'), ('s_feature', 't_feature'),
                   ('student', 'teacher'), ('s_feat', 't_feat'),
                   ('feat_s', 'feat_t'))


def resolve_keys(owner: str,
                 loss: str,
                 signature: inspect.Signature,
                 student_key: Optional[str] = None,
                 teacher_key: Optional[str] = None,
                 mapping: Optional[Dict] = None) -> Tuple[str, str]:
    """The (student, teacher) arguments of a base loss's ``forward``.

    The one place that tells them apart, for ``UncertaintyAwareKDLoss``
    and ``AvatarDistiller``: given keys are checked against ``signature``;
    otherwise, with a ``loss_forward_mappings`` entry, the teacher is its
    one ``from_student=False`` argument and the student the student
    argument that pairs with it (:data:`KNOWN_KEY_PAIRS`, or the only
    one); without, the first pair of :data:`KNOWN_KEY_PAIRS` in
    ``signature``.

    Args:
        owner (str): Who asks (named in the error): ``'AvatarDistiller'``
            or ``'UncertaintyAwareKDLoss'``.
        loss (str): The loss (named in the error): its name in
            ``distill_losses`` with ``mapping``, else its class name.
        signature (inspect.Signature): The base loss's ``forward``.
        student_key (str, optional): Given student argument.
        teacher_key (str, optional): Given teacher argument.
        mapping (dict, optional): The loss's ``loss_forward_mappings``
            entry (argument -> record config). Defaults to None.

    Returns:
        tuple[str, str]: ``(student_key, teacher_key)``.

    Raises:
        ValueError: A given key is not an argument, both are the same, or
            they cannot be inferred (none or several candidates).
    """
    params = signature.parameters
    if student_key is None and teacher_key is None and mapping is not None:
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
        paired = [s for s, t in KNOWN_KEY_PAIRS if t == teacher_key]
        candidates = [k for k in student_keys if k in paired] or student_keys
        if len(candidates) != 1:
            raise ValueError(
                f'{owner}: cannot tell which student input of loss {loss!r} '
                f'({student_keys}) pairs with its teacher input '
                f'{teacher_key!r}; write it as an explicit '
                "dict(type='UncertaintyAwareKDLoss', student_key=..., ...)")
        return candidates[0], teacher_key
    if student_key is None and teacher_key is None:
        for pair in KNOWN_KEY_PAIRS:
            if all(k in params for k in pair):
                return pair
        raise ValueError(
            f'{owner}: cannot tell which argument of {loss}.forward'
            f'{signature} is the student and which the teacher; set '
            '`student_key` and `teacher_key`')
    for arg, key in (('student_key', student_key), ('teacher_key',
                                                    teacher_key)):
        if key not in params:
            raise ValueError(f'{owner}: `{arg}`={key!r} is not an argument '
                             f'of {loss}.forward{signature}')
    if student_key == teacher_key:
        raise ValueError(f'{owner}: `student_key` and `teacher_key` are '
                         f'both {student_key!r}')
    return student_key, teacher_key
