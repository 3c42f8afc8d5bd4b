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
