"""Fetch model files from the store into a per-node cache, refusing any that fail sha256.

`RECAST_MODELS` names the store: a local folder (a mounted volume) or an `s3://` prefix, each
holding `manifest.json`. Files of an S3 store are downloaded once into `RECAST_MODEL_CACHE`
(default `$RECAST_SCRATCH/models`, else `~/.cache/recast/models`), under their hash, so every
pod on a node reuses them; a file is only ever used after its hash matched the manifest.
Nothing is downloaded from anywhere else.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
import uuid
from pathlib import Path

from pydantic import ValidationError

from tasks import storage
from tasks.models.manifest import Manifest, ModelEntry, ModelKind
from tasks.spec import SpecError

log = logging.getLogger(__name__)

ENV_STORE = "RECAST_MODELS"
ENV_CACHE = "RECAST_MODEL_CACHE"
MANIFEST = "manifest.json"
_CHUNK = 4 * 1024 * 1024


class ModelStoreError(SpecError):
    """The store is unusable: no manifest, a file missing or not the one the manifest names."""


def store_uri() -> str | None:
    return os.environ.get(ENV_STORE, "").strip() or None


def cache_dir() -> Path:
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    if os.environ.get("RECAST_SCRATCH"):
        return Path(os.environ["RECAST_SCRATCH"]) / "models"
    return Path.home() / ".cache" / "recast" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ModelStore:
    """One store: its manifest, and verified local paths of its files."""

    def __init__(self, uri: str, cache: Path | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.cache = cache or cache_dir()
        self.manifest = _read_manifest(self.uri)
        self._verified: dict[str, Path] = {}
        self._lock = threading.Lock()

    def entry(self, kind: ModelKind) -> ModelEntry | None:
        return self.manifest.first(kind)

    def require(self, kind: ModelKind, why: str) -> ModelEntry:
        entry = self.entry(kind)
        if entry is None:
            raise ModelStoreError(f"{why} needs a {kind} model; the store {self.uri} has none")
        return entry

    def path(self, entry: ModelEntry) -> Path:
        """A local file holding exactly the bytes the manifest names (fetched at most once)."""
        with self._lock:
            if entry.name not in self._verified:
                self._verified[entry.name] = self._fetch(entry)
            return self._verified[entry.name]

    def _fetch(self, entry: ModelEntry) -> Path:
        source = storage.join(self.uri, entry.file)
        if not storage.is_s3(source):
            _require(source, entry)
            _check(Path(source), entry, source)  # a mounted volume: read in place
            return Path(source)
        cached = self.cache / entry.sha256 / Path(entry.file).name
        if cached.is_file() and _trusted(cached, entry):
            return cached
        _require(source, entry)
        partial = cached.with_name(f".{cached.name}.{uuid.uuid4().hex[:8]}.part")
        storage.download(source, partial)
        try:
            _check(partial, entry, source)
        except ModelStoreError:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(cached)  # atomic: concurrent pods on a node never see half a file
        _stamp(cached, entry)
        log.info("model %s cached at %s", entry.name, cached)
        return cached


def _require(source: str, entry: ModelEntry) -> None:
    if not storage.exists(source):
        raise ModelStoreError(
            f"model {entry.name}: {source} is missing from the model store "
            f"(expected sha256 {entry.sha256})"
        )


def _read_manifest(uri: str) -> Manifest:
    where = storage.join(uri, MANIFEST)
    if not storage.exists(where):
        raise ModelStoreError(f"model store {uri}: no {MANIFEST} at {where}")
    try:
        return Manifest.model_validate(json.loads(storage.read_bytes(where)))
    except (ValueError, ValidationError) as exc:
        raise ModelStoreError(f"model store {uri}: {MANIFEST} is invalid: {exc}") from exc


def verify(path: Path, entry: ModelEntry) -> Path:
    """`path`, once its bytes hash to what `entry` says (a model shipped inside a package)."""
    if not path.is_file():
        raise ModelStoreError(
            f"model {entry.name}: {path} is missing (expected sha256 {entry.sha256})"
        )
    _check(path, entry, str(path))
    return path


def _check(path: Path, entry: ModelEntry, source: str) -> None:
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ModelStoreError(
            f"model {entry.name}: {source} has sha256 {actual}, the manifest expects "
            f"{entry.sha256}; refusing it"
        )


def _stamp_path(cached: Path) -> Path:
    return cached.with_name(f".{cached.name}.verified")


def _stamp(cached: Path, entry: ModelEntry) -> None:
    stat = cached.stat()
    _stamp_path(cached).write_text(f"{entry.sha256} {stat.st_size} {stat.st_mtime_ns}")


def _trusted(cached: Path, entry: ModelEntry) -> bool:
    """A cached file verified earlier and untouched since (else it is hashed again)."""
    stamp = _stamp_path(cached)
    stat = cached.stat()
    if stamp.is_file() and stamp.read_text() == f"{entry.sha256} {stat.st_size} {stat.st_mtime_ns}":
        return True
    try:
        _check(cached, entry, str(cached))
    except ModelStoreError:
        log.warning("model %s: cached copy %s is corrupt, fetching it again", entry.name, cached)
        return False
    _stamp(cached, entry)
    return True


@functools.cache
def _open(uri: str) -> ModelStore:
    return ModelStore(uri)


def open_store(uri: str | None = None) -> ModelStore | None:
    """The configured store (`RECAST_MODELS`), opened once per process; None when unset."""
    uri = uri or store_uri()
    return _open(uri) if uri else None
