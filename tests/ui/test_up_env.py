"""`recast up`'s settings, without starting anything: loopback only, a login that survives
restarts, one signing key for every component, a small LocalExecutor."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from recast.s3server import S3Server
from recast.up import _port_free, stack_env


def test_the_stack_listens_on_loopback_with_a_repeatable_login(tmp_path: Path) -> None:
    s3 = S3Server("http://127.0.0.1:9")
    env = stack_env(tmp_path, 8123, s3)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8123"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8123/execution/"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "4"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    first = json.loads(passwords.read_text())["admin"]
    again = stack_env(tmp_path, 8124, s3)
    assert json.loads(passwords.read_text())["admin"] == first
    assert again["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert passwords.stat().st_mode & 0o077 == 0
    assert env["AWS_ENDPOINT_URL"] == s3.endpoint and env["RECAST_BACKEND"] == "local"


def test_a_taken_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    from recast.up import up

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not _port_free(port)
        with pytest.raises(RuntimeError, match=f"port {port} is taken"):
            up(tmp_path, port)
