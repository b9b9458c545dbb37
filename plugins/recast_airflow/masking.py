"""Secrets are never printed: every credential the worker holds is registered with Airflow's
secrets masker, so a log line, a rendered argument or an error that carries one shows `***`.

Registered when any task starts (a listener) and by the local backend before it relays a
stage's output. What counts as a secret: any environment variable named like a secret,
password, token, credential or private key (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, ...),
the password of every AIRFLOW_CONN_* connection, and the C2PA private key (the contents of the
file RECAST_C2PA_KEY names, whole and line by line, so a fragment is masked too).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow.listeners import hookimpl

SENSITIVE_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|API_?KEY", re.I)
KEY_FILE_ENV = "RECAST_C2PA_KEY"
MAX_KEY_BYTES = 64 * 1024
MIN_LENGTH = 6  # shorter values would mask ordinary words (Airflow's own floor is 5)


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Every secret value found in `environ` (and in the files it names), each once."""
    found: list[str] = []
    for name, value in environ.items():
        if not value:
            continue
        if SENSITIVE_NAME.search(name):
            found.append(value)
        elif name.startswith("AIRFLOW_CONN_"):
            found += _connection_secrets(value)
    found += _key_file_secrets(environ.get(KEY_FILE_ENV))
    return [v for v in dict.fromkeys(found) if len(v) >= MIN_LENGTH]


def _connection_secrets(value: str) -> list[str]:
    """The password of a connection given as JSON or as a URI."""
    try:
        doc: Any = json.loads(value)
    except ValueError:
        password = urlsplit(value).password
        return [unquote(password)] if password else []
    if not isinstance(doc, dict):
        return []
    extra = doc.get("extra") if isinstance(doc.get("extra"), dict) else {}
    pairs = [*doc.items(), *extra.items()]
    return [str(v) for k, v in pairs if v and SENSITIVE_NAME.search(str(k))]


def _key_file_secrets(path: str | None) -> list[str]:
    """A PEM private key: the whole text, and each base64 line of it."""
    if not path:
        return []
    try:
        file = Path(path)
        if file.stat().st_size > MAX_KEY_BYTES:
            return []
        text = file.read_text(errors="replace")
    except OSError:
        return []
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    body = [ln for ln in lines if not ln.startswith("-----")]
    return [text.strip(), "".join(body), *body]


def register(environ: Mapping[str, str] | None = None) -> int:
    """Mask every secret of `environ` (default: this process's) in Airflow's logs."""
    from airflow.sdk.log import mask_secret

    values = secret_values(os.environ if environ is None else environ)
    for value in values:
        mask_secret(value)
    return len(values)


def masked(text: str) -> str:
    """`text` with every registered secret as `***` (for what is written outside the task log,
    such as the stage-log files the local backend keeps)."""
    from airflow.sdk.log import redact

    return str(redact(text))


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    register()
