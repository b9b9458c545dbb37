"""The model store: verified by sha256, cached per node, from a folder or over the S3 API."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tasks import storage
from tasks.models import ModelStore, ModelStoreError, cache_dir, open_store


def _store(folder: Path, files: dict[str, bytes], **override: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, content in files.items():
        (folder / f"{name}.onnx").write_bytes(content)
        entries.append(
            {
                "name": name,
                "file": f"{name}.onnx",
                "sha256": hashlib.sha256(content).hexdigest(),
                "kind": "inswapper" if name == "swap" else "arcface",
                "licence": "test",
            }
        )
    for entry in entries:
        entry.update({k: v for k, v in override.items() if entry["name"] == "swap"})
    (folder / "manifest.json").write_text(json.dumps({"models": entries}))
    return folder


def test_a_good_local_store_loads(tmp_path: Path) -> None:
    folder = _store(tmp_path / "store", {"swap": b"weights", "embed": b"more weights"})
    store = ModelStore(str(folder), cache=tmp_path / "cache")
    entry = store.entry("inswapper")
    assert entry is not None and entry.name == "swap" and entry.licence == "test"
    assert store.path(entry).read_bytes() == b"weights"
    assert store.entry("gfpgan") is None
    with pytest.raises(ModelStoreError, match="restore=gfpgan needs a gfpgan model"):
        store.require("gfpgan", "restore=gfpgan")


def test_a_bad_hash_is_refused_naming_model_and_expected_hash(tmp_path: Path) -> None:
    wrong = "0" * 64
    folder = _store(tmp_path / "store", {"swap": b"weights"}, sha256=wrong)
    store = ModelStore(str(folder), cache=tmp_path / "cache")
    entry = store.entry("inswapper")
    assert entry is not None
    with pytest.raises(ModelStoreError, match=f"model swap: .* the manifest expects {wrong}"):
        store.path(entry)


def test_a_missing_file_is_refused_naming_model_and_expected_hash(tmp_path: Path) -> None:
    folder = _store(tmp_path / "store", {"swap": b"weights"})
    (folder / "swap.onnx").unlink()
    store = ModelStore(str(folder), cache=tmp_path / "cache")
    entry = store.entry("inswapper")
    assert entry is not None
    with pytest.raises(ModelStoreError, match=f"model swap: .*missing.*{entry.sha256}"):
        store.path(entry)


def test_manifest_problems_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelStoreError, match=r"no manifest\.json"):
        ModelStore(str(tmp_path))
    folder = _store(tmp_path / "store", {"swap": b"w"}, file="../outside.onnx")
    with pytest.raises(ModelStoreError, match="plain relative path"):
        ModelStore(str(folder))
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ModelStoreError, match=r"manifest\.json is invalid"):
        ModelStore(str(folder))


def test_cache_location_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECAST_MODEL_CACHE", raising=False)
    monkeypatch.setenv("RECAST_SCRATCH", str(tmp_path / "scratch"))
    assert cache_dir() == tmp_path / "scratch" / "models"
    monkeypatch.setenv("RECAST_MODEL_CACHE", str(tmp_path / "node-cache"))
    assert cache_dir() == tmp_path / "node-cache"
    monkeypatch.delenv("RECAST_MODELS", raising=False)
    assert open_store() is None


def _s3_store(bucket: str, tmp_path: Path, content: bytes) -> str:
    folder = _store(tmp_path / "upload", {"swap": content})
    prefix = f"s3://{bucket}/models/v1"
    for name in ("manifest.json", "swap.onnx"):
        storage.upload(folder / name, f"{prefix}/{name}")
    return prefix


def test_an_s3_store_is_fetched_once_into_the_node_cache(bucket: str, tmp_path: Path) -> None:
    prefix = _s3_store(bucket, tmp_path, b"s3 weights")
    cache = tmp_path / "cache"
    entry = ModelStore(prefix, cache=cache).entry("inswapper")
    assert entry is not None
    path = ModelStore(prefix, cache=cache).path(entry)
    assert path.read_bytes() == b"s3 weights" and path.is_relative_to(cache)

    # A second pod on the node reuses the verified copy: the object may even be gone.
    storage.client().delete_object(Bucket=bucket, Key="models/v1/swap.onnx")
    with pytest.raises(ModelStoreError, match="missing"):
        ModelStore(prefix, cache=tmp_path / "other-node").path(entry)
    assert ModelStore(prefix, cache=cache).path(entry) == path


def test_an_s3_object_with_the_wrong_bytes_is_refused_and_not_cached(
    bucket: str, tmp_path: Path
) -> None:
    prefix = _s3_store(bucket, tmp_path, b"good")
    storage.write_bytes(f"{prefix}/swap.onnx", b"tampered")
    store = ModelStore(prefix, cache=tmp_path / "cache")
    entry = store.entry("inswapper")
    assert entry is not None
    with pytest.raises(ModelStoreError, match=f"the manifest expects {entry.sha256}"):
        store.path(entry)
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_a_corrupted_cached_copy_is_fetched_again(bucket: str, tmp_path: Path) -> None:
    prefix = _s3_store(bucket, tmp_path, b"original")
    cache = tmp_path / "cache"
    entry = ModelStore(prefix, cache=cache).entry("inswapper")
    assert entry is not None
    path = ModelStore(prefix, cache=cache).path(entry)
    path.write_bytes(b"bit rot")
    assert ModelStore(prefix, cache=cache).path(entry).read_bytes() == b"original"
