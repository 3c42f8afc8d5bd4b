"""What a recorder config of MMRazor's ``RecorderManager`` builds."""
from typing import Any, Optional


def recorder_class(cfg: Any) -> Optional[type]:
    """The class ``RecorderManager`` builds for a recorder config.

    Args:
        cfg: A recorder config, e.g. ``dict(type='ModuleOutputs',
            source='neck')``.

    Returns:
        type | None: Its class (``type`` with ``'Recorder'`` appended, as
        ``RecorderManager`` builds it, else ``type`` as it is); None when
        ``type`` names no recorder.
    """
    from mmrazor.registry import TASK_UTILS
    kind = cfg.get('type') if isinstance(cfg, dict) else None
    if not isinstance(kind, str):
        return None
    return TASK_UTILS.get(kind + 'Recorder') or TASK_UTILS.get(kind)
