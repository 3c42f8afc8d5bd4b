"""AvatarStatsHook: the Avatar statistics only on the logged iterations."""
from types import SimpleNamespace

import pytest
from helpers import toy_akd_train_config
from mmengine.hooks import LoggerHook
from mmengine.runner import Runner

from mmakd.engine.hooks.avatar_stats_hook import logs_train_iter


def train(work_dir: str, interval: int, with_hook: bool) -> Runner:
    cfg = toy_akd_train_config(
        work_dir, [dict(type='AvatarStatsHook')] if with_hook else [], **{
            'train_cfg.max_iters': 7,
            'default_hooks.logger.interval': interval,
        })
    cfg.default_hooks.pop('checkpoint', None)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def counts(runner: Runner, key: str) -> int:
    return len(runner.message_hub.get_scalar(key).data[0])


@pytest.mark.parametrize('with_hook, expected', [(True, 2), (False, 7)])
def test_statistics_are_computed_on_logged_iterations(tmp_path, with_hook,
                                                      expected):
    runner = train(str(tmp_path), interval=3, with_hook=with_hook)
    assert counts(runner, 'train/distill.loss_kl') == 7
    # Logged at iterations 3 and 6 of 7 (interval 3, no end of an epoch).
    assert counts(runner, 'train/distill.akd_sigma.kl') == expected
    assert counts(runner, 'train/distill.akd_spread.kl') == expected


def test_logger_hook_rule_is_followed():
    loader = list(range(10))  # an epoch of 10 batches
    runner = SimpleNamespace(hooks=[LoggerHook(interval=4)],
                             train_dataloader=loader)
    # LoggerHook's default ignore_last=True: every 4th iteration only.
    assert [i for i in range(10) if logs_train_iter(runner, i)] == [3, 7]
    runner.hooks = [LoggerHook(interval=4, ignore_last=False)]
    logged = [i for i in range(10) if logs_train_iter(runner, i)]
    assert logged == [3, 7, 9]  # and the epoch's last
    runner.hooks = []  # no LoggerHook: unknown, so every iteration
    assert all(logs_train_iter(runner, i) for i in range(10))
