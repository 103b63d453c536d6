"""Fixtures shared by the tests that talk to AWS APIs (loaded by tests/conftest.py): only
loopback connections (`pytest.mark.usefixtures("loopback_only")` in the module), and one moto
server on 127.0.0.1 per test module."""

from __future__ import annotations

import logging
import socket

import pytest


@pytest.fixture
def loopback_only(monkeypatch):
    """Any connection to an address other than 127.0.0.1 fails the test."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
            raise AssertionError(f"a test tried to connect to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    yield f"http://127.0.0.1:{port}"
    server.stop()
