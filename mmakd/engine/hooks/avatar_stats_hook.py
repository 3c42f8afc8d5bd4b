"""AvatarStatsHook: the Avatar statistics only on the iterations logged."""
from typing import Any, Optional

from mmengine.hooks import Hook, LoggerHook
from mmrazor.registry import HOOKS

#: MessageHub runtime info: whether this training iteration is logged.
#: Absent (no hook): ``AvatarDistiller`` computes its statistics every
#: iteration.
LOGGED_ITER_KEY = 'akd_logged_iter'


@HOOKS.register_module()
class AvatarStatsHook(Hook):
    """Tells ``AvatarDistiller`` which training iterations are logged.

    ``AvatarDistiller(log_stats=True)`` returns the mean sigma and Avatar
    spread of each wrapped loss with the losses; mmengine only reads them on
    the iterations that its ``LoggerHook`` logs (every ``interval``, and the
    last of an epoch). Before each training iteration this hook puts
    ``LoggerHook``'s own decision for it in the MessageHub
    (:data:`LOGGED_ITER_KEY`), and the distiller computes the statistics
    only then. Without this hook, or without a ``LoggerHook``, they are
    computed every iteration, as before.

    Note:
        mmengine's ``LogProcessor`` logs the mean of the last
        ``window_size`` values of a scalar. With this hook those are the
        values of the last ``window_size`` logged iterations (one per
        ``interval``), not of the last ``window_size`` iterations.

    Example:
        >>> custom_hooks = [dict(type='AvatarStatsHook')]
    """

    priority = 'VERY_LOW'

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[Any] = None) -> None:
        """Puts whether ``LoggerHook`` logs this iteration in the hub.

        Args:
            runner (Runner): The runner.
            batch_idx (int): The index of the batch, as the train loop
                passes it to ``LoggerHook.after_train_iter``.
            data_batch (Any, optional): Unused.
        """
        runner.message_hub.update_info(
            LOGGED_ITER_KEY, logs_train_iter(runner, batch_idx))


def logs_train_iter(runner, batch_idx: int) -> bool:
    """Whether the runner's ``LoggerHook`` logs training iteration
    ``batch_idx``: the rule of ``LoggerHook.after_train_iter``, through the
    hook's own methods; True where it cannot tell (no ``LoggerHook``).

    Args:
        runner (Runner): The runner.
        batch_idx (int): The index of the batch in the train loop.

    Returns:
        bool: True if it logs (or may log) this iteration.
    """
    hooks = [h for h in runner.hooks if isinstance(h, LoggerHook)]
    if len(hooks) != 1:
        return True
    hook = hooks[0]
    try:
        if hook.every_n_inner_iters(batch_idx, hook.interval):
            return True
        loader = runner.train_dataloader
        return hook.end_of_epoch(loader, batch_idx) and (
            not hook.ignore_last or len(loader) <= hook.interval)
    except (AttributeError, TypeError):  # another LoggerHook: unknown
        return True
