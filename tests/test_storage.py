"""tasks.storage against a real S3 API over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks import storage
from tasks.spec import SpecError


def test_upload_download_copy_round_trip(bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"frame data" * 1000)
    uri = storage.upload(src, f"s3://{bucket}/x/a.bin")
    assert storage.exists(uri)
    storage.copy(uri, f"s3://{bucket}/y/b.bin")
    back = storage.download(f"s3://{bucket}/y/b.bin", tmp_path / "back" / "b.bin")
    assert back.read_bytes() == src.read_bytes()
    assert not list(back.parent.glob(".*part"))


def test_json_round_trip_and_missing_objects(bucket: str) -> None:
    uri = storage.write_json(f"s3://{bucket}/r/spec.json", {"a": [1, 2]})
    assert storage.read_json(uri) == {"a": [1, 2]}
    assert not storage.exists(f"s3://{bucket}/r/none.json")
    with pytest.raises(SpecError, match=r"asset not found: s3://.*/none.mp4"):
        storage.require(f"s3://{bucket}/none.mp4", "asset")


def test_local_paths_work_the_same(tmp_path: Path) -> None:
    target = str(tmp_path / "d" / "x.json")
    storage.write_json(target, {"k": 1})
    assert storage.read_json(target) == {"k": 1}
    assert storage.exists(target)


@pytest.mark.parametrize("uri", ["s3://", "s3://bucket", "s3:///key", "/tmp/x"])
def test_split_uri_refuses_incomplete_uris(uri: str) -> None:
    with pytest.raises(ValueError):
        storage.split_uri(uri)


@pytest.mark.parametrize("where", ["s3", "local"])
def test_stat_and_delete(bucket: str, tmp_path: Path, where: str) -> None:
    uri = f"s3://{bucket}/s/a.bin" if where == "s3" else str(tmp_path / "s" / "a.bin")
    assert storage.stat(uri) is None
    storage.write_bytes(uri, b"abc")
    first = storage.stat(uri)
    assert first is not None and first.size == 3
    storage.write_bytes(uri, b"abd")  # same size, other content: S3's ETag tells them apart
    second = storage.stat(uri)
    assert second is not None and (where == "local" or second.etag != first.etag)
    storage.delete(uri)
    storage.delete(uri)  # already gone: not an error
    assert not storage.exists(uri)
    if where == "local":
        assert not list((tmp_path / "s").iterdir())  # no part files left behind


@pytest.mark.parametrize("where", ["s3", "local"])
def test_copy_if_any_copies_what_is_there_and_says_none_otherwise(
    bucket: str, tmp_path: Path, where: str
) -> None:
    base = f"s3://{bucket}/c" if where == "s3" else str(tmp_path / "c")
    storage.write_bytes(f"{base}/a.bin", b"abc")
    assert storage.copy_if_any(f"{base}/a.bin", f"{base}/b.bin") == f"{base}/b.bin"
    assert storage.read_bytes(f"{base}/b.bin") == b"abc"
    assert storage.copy_if_any(f"{base}/none.bin", f"{base}/c.bin") is None
    assert not storage.exists(f"{base}/c.bin")
