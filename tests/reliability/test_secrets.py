"""Secrets never appear in logs, task arguments, XCom or pod specs.

The whole-render check (the Airflow log, every table of Airflow's database, the published
report, QC and provenance files) is in tests/e2e/test_render.py; these are the fast checks of
each piece: what the masker is given, the local backend's relayed output, the commands and XCom
that validate produces, and the pods the Kubernetes backend submits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from recast_airflow import masking
from recast_airflow.config import Settings
from recast_airflow.kubernetes_backend import S3_SECRET
from recast_airflow.pods import sample_pods
from recast_airflow.render import validate
from tasks import storage

ROOT = Path(__file__).resolve().parents[2]
TIERS = ROOT / "plugins" / "recast_airflow" / "tiers.yaml"
S3_CANARY = "canary-s3-secret-4d1f0a"
CONN_CANARY = "canary-conn-password-77"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A real EC private key in PEM, as RECAST_C2PA_KEY names it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    return path


def _environ(key_file: Path) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": S3_CANARY,
        "AWS_SESSION_TOKEN": "canary-session-token-99",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "me", "password": CONN_CANARY, "extra": {}}
        ),
        "AIRFLOW_CONN_DB": "postgresql://airflow:canary-uri-password@db:5432/airflow",
        "AIRFLOW__API_AUTH__JWT_SECRET": "canary-jwt-secret-0123",
        "RECAST_C2PA_KEY": str(key_file),
        "RECAST_WORK_URI": "s3://studio-renders",
        "PATH": "/usr/bin",
    }


def test_every_credential_is_found_and_nothing_else(key_file: Path) -> None:
    found = masking.secret_values(_environ(key_file))
    pem = key_file.read_text()
    lines = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    assert set(found) == {
        S3_CANARY,
        "canary-session-token-99",
        CONN_CANARY,
        "canary-uri-password",
        "canary-jwt-secret-0123",
        pem.strip(),
        "".join(lines),
        *lines,
    }
    # Paths, URIs and key IDs are not secrets: masking them would blind the logs.
    assert not {str(key_file), "s3://studio-renders", "AKIAEXAMPLE"} & set(found)


def test_registered_secrets_are_redacted_even_in_fragments(key_file: Path) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    assert masking.register(_environ(key_file)) >= 5
    second_line = key_file.read_text().splitlines()[2]
    text = f"s3 {S3_CANARY} conn {CONN_CANARY} key line {second_line}"
    assert redact(text) == "s3 *** conn *** key line ***"


def test_the_local_backend_relays_stage_output_masked(tmp_path: Path) -> None:
    """A stage that echoes its credentials: the line reaches the task log as ***.

    Run apart, under Airflow's own task logging (what a worker configures)."""
    script = textwrap.dedent(
        """
        import io, os, sys
        from pathlib import Path
        from airflow.sdk.log import configure_logging
        buf = io.StringIO()
        configure_logging(output=buf, colored_console_log=False)
        from recast_airflow import masking
        from recast_airflow.local_backend import LocalStageOperator
        op = LocalStageOperator(task_id="swap", arguments=["swap"])
        code = "import os; print('key=' + os.environ['AWS_SECRET_ACCESS_KEY'])"
        echo = [sys.executable, "-c", code]
        op._run(echo, dict(os.environ))
        masking.register()
        op._run(echo, dict(os.environ), Path(sys.argv[1]))  # the stage-log file kept too
        sys.stdout.write(buf.getvalue())
        """
    )
    env = {**os.environ, "AWS_SECRET_ACCESS_KEY": S3_CANARY}
    env["PYTHONPATH"] = f"{ROOT / 'plugins'}:{ROOT}"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "kept.log")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "kept.log").read_text() == "key=***\n"
    relayed = [ln for ln in proc.stdout.splitlines() if "key=" in ln]
    assert len(relayed) == 2
    assert S3_CANARY in relayed[0]  # before registration: the test can see a leak
    assert S3_CANARY not in relayed[1] and "key=***" in relayed[1]


def test_stage_commands_and_the_xcom_of_validate_carry_no_secret(bucket: str) -> None:
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]  # the embedded S3 server's, in use
    storage.write_bytes(f"s3://{bucket}/in/film.mp4", b"x")
    storage.write_bytes(f"s3://{bucket}/f.png", b"x")
    conf = {
        "asset": f"s3://{bucket}/in/film.mp4",
        "faces": [{"source": f"s3://{bucket}/f.png"}],
        "consent_reference": "REL-1",
    }
    settings = Settings("local", f"s3://{bucket}", "img", "ns", TIERS, None)
    xcom = validate(conf, "manual__1", settings)
    assert secret not in json.dumps(xcom)
    assert all(
        isinstance(a, str) and "@" not in a
        for k, v in xcom.items()
        if k.endswith("_args")
        for a in v
    )
    assert secret not in storage.read_bytes(f"{xcom['run']}/spec.json").decode()


def test_pods_take_credentials_from_secrets_only(
    monkeypatch: pytest.MonkeyPatch, key_file: Path
) -> None:
    """`recast pods` output: no literal credential anywhere, even with them in the env."""
    for name, value in _environ(key_file).items():
        monkeypatch.setenv(name, value)
    settings = Settings("kubernetes", "s3://studio-renders", "img:1", "recast", TIERS, None)
    pods = sample_pods(settings, "all")
    canaries = masking.secret_values(_environ(key_file))
    for pod in pods.values():
        text = json.dumps(pod)
        assert not [c for c in canaries if c in text]
        for container in pod["spec"]["containers"]:
            for var in container.get("env") or []:
                if masking.SENSITIVE_NAME.search(var["name"]) or "AWS" in var["name"]:
                    assert "value" not in var and "secretKeyRef" in var.get("valueFrom", {})
            for source in container.get("envFrom") or []:
                assert set(source) == {"secretRef"}, source
        worker: dict[str, Any] = pod["spec"]["containers"][0]
        assert worker["envFrom"] == [{"secretRef": {"name": S3_SECRET}}]
