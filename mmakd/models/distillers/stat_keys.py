"""The log keys of the Avatar statistics: ``akd_<stat>.<tag>`` per loss."""
from typing import Dict, Iterable


def stat_tags(loss_names: Iterable[str]) -> Dict[str, str]:
    """The tag of each loss in its statistics' log keys, ``akd_<stat>.<tag>``.

    mmengine adds every logged key that contains ``'loss'`` to the total
    loss, so the tag is free of it: the loss name without a leading
    ``loss_`` (``loss_cwd`` -> ``cwd``), and with ``'loss'`` elsewhere as
    ``'LOSS'``. Where that makes two tags equal (``loss_cwd`` and ``cwd``),
    those losses keep their whole name (``LOSS_cwd``, ``cwd``).

    Args:
        loss_names (Iterable[str]): The names of the wrapped losses.

    Returns:
        dict: Loss name -> tag, one tag per loss.

    Raises:
        ValueError: Two names still give one tag (they differ only in the
            case of ``'loss'``).
    """
    names = list(loss_names)

    def short(name: str) -> str:
        bare = name[len('loss_'):] if name.startswith('loss_') else name
        return bare.replace('loss', 'LOSS') or 'distill'

    shorts = [short(name) for name in names]
    tags = {
        name: tag if shorts.count(tag) == 1 else name.replace('loss', 'LOSS')
        for name, tag in zip(names, shorts)
    }
    seen: Dict[str, str] = {}
    for name, tag in tags.items():
        if tag in seen:
            raise ValueError(
                f'AvatarDistiller: the distill losses {seen[tag]!r} and '
                f'{name!r} would log their statistics under the same key '
                f"'akd_<stat>.{tag}'; rename one in `distill_losses`")
        seen[tag] = name
    return tags
