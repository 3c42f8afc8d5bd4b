"""Shared pytest fixtures."""
import socket

import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Fails the test on any attempt to open a network connection.

    Guards the "no checkpoint is downloaded" promise: mmengine, torch.hub and
    urllib all connect through these two functions.
    """

    def refuse(*args, **kwargs):
        raise AssertionError(f'network access attempted: {args[1:]}')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)


@pytest.fixture(autouse=True)
def mmrazor_default_scope():
    """Each test starts in MMRazor's scope and leaks no scope to the next.

    Runners and ``init_default_scope`` (mmdet's, mmseg's) set a process-wide
    default scope; building mmakd's components by bare type name needs
    ``mmrazor``, as a config's ``_scope_='mmrazor'`` gives it.
    """
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmrazor'):
        yield


@pytest.fixture(scope='session')
def teacher_ckpt(tmp_path_factory):
    """A Runner checkpoint of the toy teacher (2 iterations, iter_2.pth)."""
    from helpers import toy_teacher_runner_cfg
    from mmengine.runner import Runner
    work_dir = tmp_path_factory.mktemp('teacher')
    Runner.from_cfg(toy_teacher_runner_cfg(work_dir)).train()
    path = work_dir / 'iter_2.pth'
    assert path.is_file()
    return path


@pytest.fixture(scope='session')
def data_root(tmp_path_factory) -> str:
    """A small Digit Scenes data set (8 training, 4 validation scenes), for
    the tests that run whole tools on it (a module may define its own)."""
    from projects.digit_scenes.digit_scenes import create_digit_scenes
    root = str(tmp_path_factory.mktemp('digit_scenes'))
    create_digit_scenes(root, 8, 4, seed=0)
    return root
