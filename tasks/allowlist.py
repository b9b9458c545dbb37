"""Which S3 buckets a render may read from and publish to: RECAST_ALLOWED_BUCKETS.

The Airflow side checks every input and the destination before any pod starts (validate, the
drop folder, the batch manifest); every stage checks the s3:// URIs of its own command line
again, so a command that got past validation still cannot reach another bucket.

    RECAST_ALLOWED_BUCKETS=studio-media,recast   exactly these buckets
    RECAST_ALLOWED_BUCKETS=*                     any bucket (the check is off)
    unset                                        the buckets Recast is configured with (the
                                                 Airflow side passes them; a stage alone: no check)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tasks.spec import SpecError

ENV = "RECAST_ALLOWED_BUCKETS"
ANY = "*"


def bucket_of(uri: str) -> str | None:
    """The bucket of an s3:// URI; None for anything else (a local path)."""
    if not uri.startswith("s3://"):
        return None
    return uri[5:].partition("/")[0] or None


@dataclass(frozen=True)
class BucketAllowList:
    buckets: frozenset[str] | None  # None: any bucket
    origin: str  # how it was configured, quoted in every refusal

    @classmethod
    def parse(cls, raw: str | None, defaults: Iterable[str] = ()) -> BucketAllowList:
        """From the variable's value; unset or blank: the buckets of the `defaults` URIs."""
        if raw is None or not raw.strip():
            found = frozenset(b for b in map(bucket_of, defaults) if b)
            return cls(found, f"{ENV} unset: the configured buckets {','.join(sorted(found))}")
        names = [n.strip().removeprefix("s3://").strip("/") for n in raw.split(",")]
        names = [n for n in names if n]
        if not names:
            raise SpecError(f"{ENV}={raw!r} names no bucket (use {ANY!r} to allow any)")
        if ANY in names:
            return cls(None, f"{ENV}={ANY}")
        return cls(frozenset(names), f"{ENV}={','.join(names)}")

    @classmethod
    def from_env(cls, defaults: Iterable[str] = ()) -> BucketAllowList:
        return cls.parse(os.environ.get(ENV), defaults)

    def problem(self, uri: str, what: str) -> str | None:
        """Why `uri` is refused, or None (local paths are not the allow-list's business)."""
        bucket = bucket_of(uri)
        if bucket is None or self.buckets is None or bucket in self.buckets:
            return None
        return f"{what}: bucket {bucket!r} is not in the allow-list ({self.origin})"

    def problems(self, uris: Iterable[tuple[str, str]]) -> list[str]:
        """Every refusal among (what, uri) pairs."""
        return [p for what, uri in uris if (p := self.problem(uri, what))]

    def env_value(self) -> str:
        """The value handed to the stages, so they check exactly what the Airflow side did."""
        return ANY if self.buckets is None else ",".join(sorted(self.buckets))


def check_arguments(argv: Sequence[str]) -> None:
    """A stage refuses a command line naming a bucket outside RECAST_ALLOWED_BUCKETS (if set)."""
    raw = os.environ.get(ENV)
    if not raw or not raw.strip():
        return
    problems = BucketAllowList.parse(raw).problems(("argument", a) for a in argv)
    if problems:
        raise SpecError("; ".join(problems), problems)
