"""Done markers and the content-addressed unit cache.

A unit stage names everything that decides its output (the input's sha256, the frame range,
the models' hashes, the spec's parameters, `CACHE_FORMAT`); the sha256 of that is its cache
key. It renders in scratch, stages the files under a key unique to the attempt, copies them to
their final keys and writes the done marker LAST: a marker means that every output it names is
complete. A retried or re-run unit whose marker is intact is skipped.

The staged files are also the shared cache entry, `<cache>/units/<key>/<attempt>/...`, never
written again once there; the entry's `done.json`, written after them, names one attempt's
files. Two renders computing the same key at once can only replace one complete entry by
another, and a later render of the same asset with the same settings copies the entry instead
of computing it. A marker is trusted only while every output still has the size and ETag (S3)
or sha256 (local files) it recorded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from tasks import storage
from tasks.layout import RunLayout

log = logging.getLogger(__name__)

# Bump when a stage's pixels change for the same inputs: older cache entries stop matching.
CACHE_FORMAT = 6  # 6: the swap writes its unit in the split unit's format (passthrough)


class OutputRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str
    sha256: str
    size: int
    etag: str | None = None


class Marker(BaseModel):
    """`<stage>.done.json` of a unit in a run, and `done.json` of a cache entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    stage: str
    attempt: str
    inputs: dict[str, Any]
    outputs: dict[str, OutputRecord]
    result: dict[str, Any]


def _code_version() -> str:
    try:
        return importlib.metadata.version("recast")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - always installed here
        return "unknown"


def cache_key(stage: str, inputs: Mapping[str, Any]) -> str:
    """sha256 over the stage, the code's version and every input, in a canonical JSON form."""
    payload = {"format": CACHE_FORMAT, "code": _code_version(), "stage": stage, "inputs": inputs}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_marker(uri: str) -> Marker | None:
    """The marker at `uri`; None when absent or unreadable (then the unit is simply redone)."""
    try:
        found = storage.read_json_if_any(uri)
        return None if found is None else Marker.model_validate(found)
    except (ValidationError, ValueError) as exc:
        log.warning("ignoring unreadable done marker %s: %s", uri, exc)
        return None


def intact(record: OutputRecord) -> bool:
    """The object is still the one recorded: one HEAD in S3, a re-hash for local files."""
    found = storage.stat(record.uri)
    if found is None or found.size != record.size:
        return False
    if storage.is_s3(record.uri):
        return record.etag is not None and found.etag == record.etag
    return storage.sha256_file(Path(record.uri)) == record.sha256


@dataclass
class Checkpoint:
    """One stage of one unit: find its finished outputs, or make new ones final."""

    layout: RunLayout
    unit_id: str
    stage: str
    inputs: dict[str, Any]
    outputs: dict[str, str]  # file name -> final URI in the run
    key: str = field(init=False)
    # What commit() left in the shared cache entry (empty without one): for tasks.reuse's record.
    staged: dict[str, OutputRecord] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.key = cache_key(self.stage, self.inputs)

    @property
    def marker_uri(self) -> str:
        return self.layout.unit_marker(self.unit_id, self.stage)

    @property
    def entry(self) -> str | None:
        """This key's folder in the shared cache, or None when the cache is off."""
        cache = self.layout.cache
        return storage.join(cache, "units", self.key) if cache else None

    def lookup(self) -> Marker | None:
        """The run's own marker if intact, else a shared cache entry made final in this run."""
        mine = read_marker(self.marker_uri)
        if mine and self._valid(mine, self.outputs):
            log.info("%s %s: done marker %s is intact, skipped", self.stage, self.unit_id, self.key)
            return mine
        entry = self.entry
        cached = read_marker(storage.join(entry, "done.json")) if entry else None
        if cached is None or not self._valid(cached, None):
            return None
        log.info("%s %s: reusing cache entry %s", self.stage, self.unit_id, entry)
        return self._finalise(cached.attempt, cached.outputs, cached.result)

    def commit(self, files: Mapping[str, Path], result: dict[str, Any]) -> Marker:
        """Stage `files` (name -> local path) under a fresh attempt key, then make them final."""
        if set(files) != set(self.outputs):
            raise ValueError(f"{self.stage} outputs {sorted(files)} != {sorted(self.outputs)}")
        attempt = uuid.uuid4().hex[:16]
        entry = self.entry
        staging = (
            storage.join(entry, attempt)
            if entry
            else self.layout.unit_attempt(self.unit_id, attempt)
        )
        staged: dict[str, OutputRecord] = {}
        for name, path in files.items():
            uri = storage.join(staging, name)
            staged[name] = _record(uri, path, storage.upload_stat(path, uri))
        marker = self._finalise(attempt, staged, result)
        if entry:  # the staged files stay as the cache entry, named by its marker (last)
            shared = marker.model_copy(update={"outputs": staged})
            storage.write_json(storage.join(entry, "done.json"), shared.model_dump_json())
            self.staged = staged
        else:
            for rec in staged.values():
                storage.delete(rec.uri)
        return marker

    def _valid(self, marker: Marker, expected: Mapping[str, str] | None) -> bool:
        if marker.key != self.key or set(marker.outputs) != set(self.outputs):
            return False
        if expected and any(marker.outputs[n].uri != u for n, u in expected.items()):
            return False
        broken = [rec.uri for rec in marker.outputs.values() if not intact(rec)]
        if broken:
            log.warning(
                "%s %s: marker ignored, output changed: %s", self.stage, self.unit_id, broken
            )
        return not broken

    def _finalise(
        self,
        attempt: str,
        sources: Mapping[str, OutputRecord],
        result: dict[str, Any],
    ) -> Marker:
        """Copy each complete source to its final key, then write the run's marker last."""
        records = {}
        for name, source in sources.items():
            final = self.outputs[name]
            etag = storage.copy_etag(source.uri, final)  # S3 tells it: no HEAD after the copy
            found = storage.stat(final) if etag is None else storage.ObjectStat(source.size, etag)
            if found is None:
                raise RuntimeError(f"{final} vanished right after it was written")
            records[name] = OutputRecord(
                uri=final, sha256=source.sha256, size=found.size, etag=found.etag
            )
        marker = Marker(
            key=self.key,
            stage=self.stage,
            attempt=attempt,
            inputs=self.inputs,
            outputs=records,
            result=result,
        )
        storage.write_json(self.marker_uri, marker.model_dump_json())
        return marker


def _record(uri: str, local: Path, found: storage.ObjectStat | None = None) -> OutputRecord:
    found = found or storage.stat(uri)
    if found is None:
        raise RuntimeError(f"{uri} vanished right after it was written")
    return OutputRecord(
        uri=uri, sha256=storage.sha256_file(local), size=found.size, etag=found.etag
    )
