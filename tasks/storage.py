"""Object storage: s3:// URIs through boto3's transfer manager, plain paths for local files.

Credentials and the endpoint come from the standard AWS environment (AWS_ACCESS_KEY_ID,
AWS_ENDPOINT_URL, ...): in a pod from a Kubernetes Secret, on a laptop from the embedded server.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tasks.spec import SpecError

# Bytes this process read and wrote through this module, for the stage's metrics (tasks.metrics).
MOVED: Counter[str] = Counter()


@lru_cache(maxsize=1)
def _transfer() -> Any:
    # boto3 is imported on first S3 use: a stage on local files starts ~0.2 s sooner.
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=64 * 1024 * 1024, max_concurrency=4)


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    if not is_s3(uri):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise ValueError(f"s3 URI needs a bucket and a key: {uri!r}")
    return bucket, key


def join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *(p.strip("/") for p in parts)])


@lru_cache(maxsize=1)
def client() -> Any:
    import boto3
    from botocore.config import Config

    # Adaptive mode backs off on 5xx, throttling and dropped connections, and rate-limits itself.
    attempts = int(os.environ.get("RECAST_S3_MAX_ATTEMPTS", "8"))
    retry = Config(retries={"max_attempts": attempts, "mode": "adaptive"})
    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None, config=retry)


def exists(uri: str) -> bool:
    if not is_s3(uri):
        return Path(uri).is_file()
    from botocore.exceptions import ClientError

    bucket, key = split_uri(uri)
    try:
        client().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def require(uri: str, what: str) -> None:
    """Fail early, naming the input, when it is not there."""
    if not exists(uri):
        raise SpecError(f"{what} not found: {uri}")


def _small(size: int) -> bool:
    """Below the multipart threshold one plain request does it: no HEAD first, no thread pool
    (each costs a round trip or a thread start per unit on a busy machine)."""
    return size < int(_transfer().multipart_threshold)


def download(uri: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if is_s3(uri):
        bucket, key = split_uri(uri)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            got = client().get_object(Bucket=bucket, Key=key)
            if _small(int(got["ContentLength"])):
                with tmp.open("wb") as out:
                    shutil.copyfileobj(got["Body"], out, 1024 * 1024)
            else:  # large: the transfer manager's ranged, concurrent GETs
                got["Body"].close()
                client().download_file(bucket, key, str(tmp), Config=_transfer())
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        shutil.copyfile(uri, dest)
    MOVED["read"] += dest.stat().st_size
    return dest


def upload(path: Path, uri: str) -> str:
    """One object appears whole or not at all: S3 PUTs and completed multiparts are atomic."""
    upload_stat(path, uri)
    return uri


def upload_stat(path: Path, uri: str) -> ObjectStat | None:
    """upload(), and the stored object's size and ETag when the PUT told them (a single PUT
    in S3); None otherwise (then stat() asks)."""
    size = path.stat().st_size
    MOVED["written"] += size
    if is_s3(uri):
        bucket, key = split_uri(uri)
        if _small(size):
            with path.open("rb") as body:
                put = client().put_object(Bucket=bucket, Key=key, Body=body)
            return ObjectStat(size, str(put["ETag"])) if put.get("ETag") else None
        client().upload_file(str(path), bucket, key, Config=_transfer())
    else:
        target = Path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _part(target)
        try:
            shutil.copyfile(path, tmp)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    return None


def _part(target: Path) -> Path:
    """A temporary name unique per writer: two writers of one path never share a part file."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")


def copy(src: str, dst: str) -> str:
    copy_etag(src, dst)
    return dst


def copy_if_any(src: str, dst: str) -> str | None:
    """copy(), or None when `src` is not there: one request where a HEAD and a copy were two."""
    if not is_s3(src):
        return copy(src, dst) if Path(src).is_file() else None
    from botocore.exceptions import ClientError

    try:
        return copy(src, dst)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise


def copy_etag(src: str, dst: str) -> str | None:
    """copy(), and the copy's ETag when the S3 CopyObject told it; None otherwise."""
    if is_s3(src) and is_s3(dst):
        sb, sk = split_uri(src)
        db, dk = split_uri(dst)
        return _copy_s3({"Bucket": sb, "Key": sk}, db, dk)
    if is_s3(src):
        download(src, Path(dst))
    else:
        upload(Path(src), dst)
    return None


def _copy_s3(source: dict[str, str], bucket: str, key: str) -> str | None:
    """One server-side CopyObject (no HEAD, no thread pool), its ETag; objects past its 5 GB
    limit through the transfer manager's multipart copy (None: stat() tells the ETag)."""
    from botocore.exceptions import ClientError

    try:
        done = client().copy_object(CopySource=source, Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"InvalidRequest", "EntityTooLarge"}:
            raise
        client().copy(source, bucket, key, Config=_transfer())
        return None
    etag = done.get("CopyObjectResult", {}).get("ETag")
    return str(etag) if etag else None


def read_bytes(uri: str) -> bytes:
    if is_s3(uri):
        bucket, key = split_uri(uri)
        body: bytes = client().get_object(Bucket=bucket, Key=key)["Body"].read()
    else:
        body = Path(uri).read_bytes()
    MOVED["read"] += len(body)
    return body


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    MOVED["written"] += len(data)
    if is_s3(uri):
        bucket, key = split_uri(uri)
        client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    else:
        target = Path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _part(target)
        try:
            tmp.write_bytes(data)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    return uri


def read_json(uri: str) -> Any:
    return json.loads(read_bytes(uri))


def read_json_if_any(uri: str) -> Any | None:
    """The JSON at `uri`, or None when there is none: one GET (not a HEAD, then a GET)."""
    if not is_s3(uri):
        return read_json(uri) if Path(uri).is_file() else None
    from botocore.exceptions import ClientError

    try:
        return read_json(uri)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise


def write_json(uri: str, obj: Any) -> str:
    data = obj.encode() if isinstance(obj, str) else json.dumps(obj, indent=2).encode()
    return write_bytes(uri, data, "application/json")


@dataclass(frozen=True)
class ObjectStat:
    """What identifies an object's content without reading it: its size and, in S3, its ETag."""

    size: int
    etag: str | None = None


def stat(uri: str) -> ObjectStat | None:
    """Size (and ETag) of an object, or None when it is not there. One HEAD request in S3."""
    if not is_s3(uri):
        path = Path(uri)
        return ObjectStat(path.stat().st_size) if path.is_file() else None
    from botocore.exceptions import ClientError

    bucket, key = split_uri(uri)
    try:
        head = client().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    return ObjectStat(int(head["ContentLength"]), str(head["ETag"]))


def list_uris(prefix: str) -> list[str]:
    """Every object under `prefix` (a folder for local paths), sorted."""
    if not is_s3(prefix):
        root = Path(prefix)
        return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    bucket, key = split_uri(prefix.rstrip("/") + "/")
    found = []
    for page in client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        found += [f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", [])]
    return sorted(found)


def delete(uri: str) -> None:
    """Remove an object; one already gone is not an error."""
    if is_s3(uri):
        bucket, key = split_uri(uri)
        client().delete_object(Bucket=bucket, Key=key)
    else:
        Path(uri).unlink(missing_ok=True)


def sha256_file(path: Path, chunk: int = 4 * 1024 * 1024) -> str:
    """Streamed: a film is hashed without holding it in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
