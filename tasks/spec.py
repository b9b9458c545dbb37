"""Typed data passed between stages: one spec per render, the probe, shots, units, results.

Everything that crosses a process boundary (XCom, a pod's command line, S3) is one of these
models, serialised as JSON and validated again where it is read.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

RestoreMode = Literal["none", "gfpgan"]
# review: H.264 + AAC in MP4 (web-friendly); master: ProRes 422 HQ + PCM in MOV, plus the review.
DeliveryPreset = Literal["review", "master"]
# What a render delivers (`deliveries`): the review film (always made: QC, signing and publishing
# read it), the ProRes master, and `shots`: each shot with a replaced face as a clip with handles.
Deliverable = Literal["review", "master", "shots"]
# The shots' clips: ProRes 4444 MOV, 16-bit half OpenEXR (ZIP) or 10-bit DPX sequences.
PlateFormat = Literal["prores4444", "exr", "dpx"]
# The unit mezzanine the split stage writes: lossless FFV1, ProRes 422 HQ or high-quality H.264.
Mezzanine = Literal["ffv1", "prores", "h264"]
Transition = Literal["cut", "dissolve", "fade", "wipe"]
# classical: PySceneDetect's detectors and Recast's measures; learned: TransNetV2 alone; fused:
# the classical detector with TransNetV2 as a second opinion (tasks/shots/learned.py).
ShotDetector = Literal["classical", "learned", "fused"]
SHOT_DETECTORS: tuple[str, ...] = get_args(ShotDetector)
# A variable-frame-rate source: refused at the probe, or conformed to a constant rate (frames
# repeated or dropped, counted in the QC report).
VfrPolicy = Literal["refuse", "conform"]
VFR_POLICIES: tuple[str, ...] = get_args(VfrPolicy)

RESTORE_MODES: tuple[str, ...] = get_args(RestoreMode)
# Which faces a mapping replaces: those matching its reference, every face, or the largest.
FaceSelect = Literal["reference", "all", "largest"]
FACE_SELECTS: tuple[str, ...] = get_args(FaceSelect)
# How a replaced face is pasted (tasks.faces.masks): masks multiply, regions unite.
FaceMaskKind = Literal["box", "region", "occlusion"]
FaceRegion = Literal["skin", "eyes", "brows", "nose", "mouth"]
_MASKS: list[FaceMaskKind] = ["occlusion", "region"]
_REGIONS: list[FaceRegion] = ["skin", "eyes", "brows", "nose", "mouth"]
# auto: INSwapper when the model store has it, else the classical (offline) swapper.
SwapperChoice = Literal["auto", "classical", "inswapper"]
SWAPPERS: tuple[str, ...] = get_args(SwapperChoice)
DELIVERY_PRESETS: tuple[str, ...] = get_args(DeliveryPreset)
MEZZANINES: tuple[str, ...] = get_args(Mezzanine)
DELIVERABLES: tuple[str, ...] = get_args(Deliverable)
PLATE_FORMATS: tuple[str, ...] = get_args(PlateFormat)
MAX_HANDLES = 100
# The lossless mezzanines, which a unit copied from the source can stand in for (split.LOSSLESS).
LOSSLESS_MEZZANINES: tuple[Mezzanine, ...] = ("ffv1", "h264")
TRANSITIONS: tuple[str, ...] = get_args(Transition)

# Airflow's default max_map_length is 1024; stay well under it.
DEFAULT_MAX_UNITS = 256


# The ID of a signed consent or release: printable, short, safe in reports and manifests.
ConsentRef = Annotated[
    str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._:/#-]*$")
]


class SpecError(ValueError):
    """A render spec, a stage input or a media file that Recast refuses, with the reason.

    `problems` lists every reason found (a field path and a message each), so a job file or a
    form is corrected in one go; the message joins them.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) or [message]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    def to_json(self) -> str:
        return self.model_dump_json()


# S3's bucket naming rules, loosely: lowercase letters, digits, dots and hyphens.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")
# `scheme://user:password@host`: the part an error message must never repeat.
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def hide_userinfo(text: str) -> str:
    """Credentials written into a URI are replaced by *** wherever Recast quotes the URI."""
    return _USERINFO.sub("***@", text)


def _check_uri(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{what} is empty")
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"{what} contains control characters")
    if value.startswith("s3://"):
        bucket, _, key = value[5:].partition("/")
        if not bucket or not key:
            raise ValueError(f"{what} {value!r} must be s3://BUCKET/KEY")
        if not _BUCKET.fullmatch(bucket):
            # Also keeps credentials (s3://KEY:SECRET@bucket) out of every URI Recast logs.
            shown = hide_userinfo(value)
            raise ValueError(f"{what} {shown!r}: not an S3 bucket name (credentials in the URI?)")
        if ".." in key.split("/"):
            raise ValueError(f"{what} {value!r} contains '..'")
    elif "://" in value:
        raise ValueError(f"{what} {value!r}: only s3:// URIs or local paths are accepted")
    return value


class FaceMapping(_Model):
    """Put the face of `source` on the person who looks like `reference` (every face if None)."""

    source: str = Field(description="URI of an image with exactly one face: the face to put in")
    reference: str | None = Field(
        default=None, description="URI of an image of the person to replace; none: every face"
    )
    consent: ConsentRef | None = Field(
        default=None,
        description="ID of the consent covering this face; the render's consent_reference "
        "covers mappings without one",
    )
    select: FaceSelect | None = Field(
        default=None,
        description="which faces to replace: reference (default with a reference), all "
        "(default without), or the largest",
    )

    @model_validator(mode="after")
    def _select_fits_reference(self) -> FaceMapping:
        if self.select == "reference" and self.reference is None:
            raise ValueError("select=reference needs a reference image")
        if self.select in ("all", "largest") and self.reference is not None:
            raise ValueError(f"select={self.select} takes no reference image")
        return self

    @field_validator("source")
    @classmethod
    def _source_uri(cls, v: str) -> str:
        return _check_uri(v, "face source")

    @field_validator("reference")
    @classmethod
    def _reference_uri(cls, v: str | None) -> str | None:
        return None if v is None or not v.strip() else _check_uri(v, "face reference")


# A shot of a scoped re-render: its index in the base render's shot list, or a timecode range
# of the film (HH:MM:SS:FF-HH:MM:SS:FF, end exclusive) selecting every shot it overlaps.
ShotRef = (
    int
    | Annotated[
        str, StringConstraints(pattern=r"^(\d+|\d\d:\d\d:\d\d[:;]\d\d-\d\d:\d\d:\d\d[:;]\d\d)$")
    ]
)


class ShotOverride(_Model):
    """A scoped re-render's settings for one shot, in place of the render's own."""

    shot: int = Field(ge=0, description="index of the shot in the base render's shot list")
    faces: list[FaceMapping] | None = Field(
        default=None, min_length=1, max_length=16, description="face mappings for this shot"
    )
    match_threshold: float | None = Field(default=None, gt=0.0, le=2.0)
    restore: RestoreMode | None = None
    skip: bool = Field(default=False, description="pass the shot through untouched")


class RenderSpec(_Model):
    """One render, as the UI form, the drop-folder job, the batch manifest and the CLI give it."""

    asset: str = Field(description="URI of the film to render (s3://bucket/key)")
    faces: list[FaceMapping] = Field(min_length=1, max_length=16)
    restore: RestoreMode = Field(
        default="none", description="face restoration after the swap: none, or the model"
    )
    restore_strength: float = Field(
        default=0.8, ge=0.0, le=1.0, description="0: none of the restored face, 1: all of it"
    )
    delivery: DeliveryPreset = Field(
        default="review",
        description="review: H.264 + AAC in MP4; master: also ProRes 422 HQ + PCM in MOV",
    )
    mezzanine: Mezzanine = Field(
        default="ffv1", description="intermediate codec of the units between the stages"
    )
    vfr: VfrPolicy | None = Field(
        default=None,
        description="a variable-frame-rate source: refuse it, or conform it to a constant rate "
        "(the QC report counts the frames repeated or dropped); none: the deployment's "
        "RECAST_VFR, conform unless set",
    )
    tier: str = Field(
        default="standard",
        pattern=r"^[a-z][a-z0-9-]{0,31}$",
        description="GPU tier of the swap and restore pods (the tier file's names)",
    )
    max_units: int = Field(
        default=DEFAULT_MAX_UNITS, ge=1, le=1000, description="cap on work units (pods)"
    )
    unit_frames: int = Field(
        default=480, ge=1, le=100_000, description="longest unit, in frames, before it is split"
    )
    output_prefix: str = Field(
        default="renders",
        pattern=r"^[A-Za-z0-9._/-]{1,200}$",
        description="published under <work bucket>/<prefix>/<asset>/<run id>/",
    )
    match_threshold: float = Field(
        default=0.6,
        gt=0.0,
        le=2.0,
        description="largest identity distance at which a face counts as the reference person",
    )
    swapper: SwapperChoice = Field(
        default="auto",
        description="auto: the neural swapper when the model store has it, else the classical",
    )
    face_masks: list[FaceMaskKind] = Field(
        default=_MASKS,
        min_length=1,
        description="how a replaced face is pasted: box (the aligned crop), region (the face "
        "parts in face_mask_regions), occlusion (keep what stands in front of the face: a "
        "hand, a cup, hair)",
    )
    face_mask_regions: list[FaceRegion] = Field(
        default=_REGIONS,
        min_length=1,
        description="face parts the region mask lets through (skin: the whole face)",
    )
    shot_detector: ShotDetector = Field(
        default="classical",
        description="how detect-shots finds the cuts: classical, learned (TransNetV2) or fused",
    )
    consent_reference: ConsentRef | None = Field(
        default=None,
        description="ID of the signed consent or release covering the replaced faces; kept in the "
        "render's report",
    )
    deliveries: list[Deliverable] = Field(
        default=["review"],
        min_length=1,
        max_length=len(DELIVERABLES),
        description="what to deliver: review (the H.264 film, always made), master (ProRes 422 "
        "HQ MOV), shots (each shot with a replaced face as a clip with handles, plus a conform "
        "OTIO/EDL); delivery=master adds master",
    )
    handles: int = Field(
        default=8,
        ge=0,
        le=MAX_HANDLES,
        description="extra frames each side of a delivered shot clip, as far as the film has them",
    )
    plate_format: PlateFormat = Field(
        default="prores4444",
        description="format of the shot clips: ProRes 4444 MOV, 16-bit half OpenEXR or 10-bit "
        "DPX sequences",
    )
    source_plates: bool = Field(
        default=False,
        description="also deliver the untouched source of each shot clip (`_plate_src`)",
    )
    start_timecode: str | None = Field(
        default=None,
        pattern=r"^[0-2][0-9]:[0-5][0-9]:[0-5][0-9][:;][0-5][0-9]$",
        description="start timecode (HH:MM:SS:FF) of an asset that carries none; an asset's own "
        "timecode wins",
    )

    reuse: bool = Field(
        default=True,
        description="take frames an earlier render with the same settings already swapped "
        "(another version of the cut, or repeated material), checked on the source frames",
    )
    base_run: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}$",
        description="a published render (its run id) to re-render a few shots of: every other "
        "frame comes from it unchanged",
    )
    shots: list[ShotRef] = Field(
        default=[],
        max_length=10_000,
        description="the shots a scoped re-render computes: indices in the base render's shot "
        "list, or timecode ranges HH:MM:SS:FF-HH:MM:SS:FF",
    )
    shot_overrides: list[ShotOverride] = Field(
        default=[],
        max_length=10_000,
        description="per-shot settings of a scoped re-render (faces, threshold, restoration, "
        "skip); their shots are re-rendered too",
    )
    reuse_min_psnr: float = Field(
        default=30.0,
        ge=20.0,
        le=99.0,
        description="a frame is reused only if its worst 32x32 tile is at least this close "
        "(Y-PSNR, dB) to the earlier render's source frame",
    )

    @model_validator(mode="after")
    def _scope_needs_a_base(self) -> RenderSpec:
        if (self.shots or self.shot_overrides) and not self.base_run:
            raise ValueError("shots and shot_overrides re-render a base render: set base_run")
        if self.base_run and not (self.shots or self.shot_overrides):
            raise ValueError("base_run needs the shots to re-render (shots or shot_overrides)")
        return self

    def all_faces(self) -> list[FaceMapping]:
        """The render's mappings and those of its shot overrides."""
        return [*self.faces, *(f for o in self.shot_overrides for f in o.faces or [])]

    def restores(self) -> bool:
        """Whether any unit's faces are restored. When none are (`restore: none`, no shot
        override), no restore task runs: the swap's output is the unit's (a task per unit, a
        GPU pod on a cluster, spent on a copy otherwise)."""
        return self.restore != "none" or bool(self.shot_overrides)

    def outputs(self) -> list[Deliverable]:
        """What assemble writes, the one place that decides it: the review film always (QC,
        signing and publishing read it), the master when `deliveries` or the older
        `delivery: master` asks for it, the shot clips when `deliveries` lists `shots`."""
        wanted = (
            set(self.deliveries) | {"review"} | ({"master"} if self.delivery == "master" else set())
        )
        return [d for d in get_args(Deliverable) if d in wanted]

    def missing_consent(self) -> list[int]:
        """Mappings (numbered from 1) that no consent reference covers."""
        return [
            i
            for i, face in enumerate(self.faces, start=1)
            if not (face.consent or self.consent_reference)
        ]

    def inputs(self) -> list[tuple[str, str]]:
        """(what, uri) of every file the render reads: the asset, each face image."""
        found = [("asset", self.asset)]
        for i, face in enumerate(self.faces, start=1):
            found.append((f"face source {i}", face.source))
            if face.reference:
                found.append((f"face reference {i}", face.reference))
        for o in self.shot_overrides:
            for i, face in enumerate(o.faces or [], start=1):
                found.append((f"shot {o.shot} face source {i}", face.source))
                if face.reference:
                    found.append((f"shot {o.shot} face reference {i}", face.reference))
        return found

    @field_validator("asset")
    @classmethod
    def _asset_uri(cls, v: str) -> str:
        return _check_uri(v, "asset")

    @field_validator("start_timecode", mode="before")
    @classmethod
    def _timecode(cls, v: str | None) -> str | None:
        from tasks.media.timecode import check_format

        if not isinstance(v, str):
            return v
        return None if not v.strip() else check_format(v)

    @field_validator("output_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        v = v.strip("/")
        if ".." in v.split("/"):
            raise ValueError("output_prefix contains '..'")
        return v

    @classmethod
    def parse(cls, data: object) -> RenderSpec:
        """Validate untrusted input, listing every problem in one SpecError."""
        from pydantic import ValidationError

        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise SpecError(f"render spec is not valid JSON: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = [_problem(e["loc"], e["msg"], e.get("input")) for e in exc.errors()]
            raise SpecError(f"invalid render spec: {'; '.join(problems)}", problems) from exc

    def fingerprint(self) -> str:
        """Stable short hash of the settings: the same spec always gives the same id."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


def _problem(loc: tuple[int | str, ...], msg: str, value: Any) -> str:
    """`faces.0.source: message (got 'x')`: the field's path, the rule, the value refused."""
    path = ".".join(str(p) for p in loc) or "spec"
    ours = msg.startswith("Value error, ")  # Recast's own checks quote the value already
    msg = msg.removeprefix("Value error, ")
    if isinstance(value, (str, int, float, bool)) and not ours:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        if shown not in msg:
            msg = f"{msg} (got {shown})"
    return hide_userinfo(f"{path}: {msg}")


class AudioStream(_Model):
    index: int = Field(ge=0, description="stream index in the container")
    codec: str
    channels: int = Field(default=0, ge=0)
    layout: str | None = None
    sample_rate: int = Field(default=0, ge=0)
    language: str | None = None


class SubtitleStream(_Model):
    index: int = Field(ge=0)
    codec: str
    language: str | None = None


class ConformEvent(_Model):
    """Where conforming a variable-rate film changed it, at output frame `frame`."""

    frame: int = Field(ge=0)
    repeated: int = Field(default=0, ge=0, description="extra copies of the frame before")
    dropped: int = Field(default=0, ge=0, description="source frames never shown")


class Conform(_Model):
    """What conforming a variable-rate film to its constant rate did to its frames."""

    source_frames: int = Field(ge=0, description="frames the decoder presents")
    repeated: int = Field(ge=0)
    dropped: int = Field(ge=0)
    events: list[ConformEvent] = Field(default=[], description="the first ones, in order")
    more_events: int = Field(default=0, ge=0, description="events left out of `events`")


class Probe(_Model):
    """What the pipeline needs to know about a film before it plans any work."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: str = Field(description="exact frame rate as a rational, e.g. 24000/1001")
    frame_count: int = Field(gt=0)
    duration: float = Field(gt=0)
    video_codec: str
    pix_fmt: str
    audio_streams: int = Field(ge=0)
    audio_codec: str | None = None
    container: str = Field(default="unknown", description="ffprobe's format name")
    vfr: bool = Field(
        default=False, description="variable frame rate: frames are retimed to `fps` (constant)"
    )
    conform: Conform | None = Field(
        default=None, description="a variable-rate film: the frames its retiming repeats/drops"
    )
    rotation: int = Field(
        default=0,
        description="display rotation of the source (degrees, counter-clockwise); "
        "width and height are the upright frame's, as every stage decodes it",
    )
    sar: str = Field(default="1:1", description="sample (pixel) aspect ratio")
    bit_depth: int = Field(default=8, ge=1, le=16)
    color_primaries: str | None = None
    color_transfer: str | None = None
    color_space: str | None = None
    color_range: str | None = None
    timecode: str | None = Field(default=None, description="start timecode, HH:MM:SS:FF")
    audio: list[AudioStream] = []
    subtitles: list[SubtitleStream] = []
    warnings: list[str] = []
    sha256: str | None = Field(
        default=None, description="the asset file's sha256: the root of every unit's cache key"
    )

    @field_validator("fps")
    @classmethod
    def _fps(cls, v: str) -> str:
        return fps_string(parse_fps(v))


def parse_fps(value: str) -> Fraction:
    try:
        rate = Fraction(value)
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"frame rate {value!r} is not a rational number") from exc
    if not 1 <= rate <= 240:
        raise ValueError(f"frame rate {value} is outside 1..240 fps")
    return rate


def fps_string(rate: Fraction) -> str:
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


class Shot(_Model):
    index: int = Field(ge=0)
    start_frame: int = Field(ge=0)
    end_frame: int = Field(gt=0, description="exclusive")
    transition: Transition = Field(
        default="cut",
        description="how this shot begins: a cut, or the middle of a dissolve/fade/wipe",
    )
    transition_frames: int = Field(
        default=0,
        ge=0,
        description="length of that dissolve, fade or wipe, in frames (0 for a cut)",
    )
    fingerprint: str | None = Field(
        default=None,
        description="per-frame content hashes (tasks.shots.fingerprint), base64; reuse across "
        "versions finds the same material by them",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Shot:
        if self.end_frame <= self.start_frame:
            raise ValueError(f"shot {self.index}: end_frame must be after start_frame")
        return self

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


class ShotList(_Model):
    """The `detect-shots` contract: frames from 0 in presentation order, end exclusive."""

    fps: str
    frame_count: int = Field(gt=0)
    shots: list[Shot] = Field(min_length=1)
    detector: str = Field(default="", description="what found the shots, e.g. 'pyscenedetect'")
    params: dict[str, float | int | str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _covers_every_frame_once(self) -> ShotList:
        expected = 0
        for i, shot in enumerate(self.shots):
            if shot.index != i:
                raise ValueError(f"shot {i} has index {shot.index}")
            if shot.start_frame != expected:
                raise ValueError(f"shot {i} starts at {shot.start_frame}, expected {expected}")
            expected = shot.end_frame
        if expected != self.frame_count:
            raise ValueError(f"shots end at frame {expected}, film has {self.frame_count}")
        return self


class Unit(_Model):
    """A contiguous frame range (one or more whole shots, or a chunk of a long one) for one pod."""

    id: str = Field(pattern=r"^u[0-9]{4}-[0-9a-f]{8}$")
    index: int = Field(ge=0)
    start_frame: int = Field(ge=0)
    end_frame: int = Field(gt=0)
    shots: list[int] = Field(min_length=1, description="indices of the shots it touches")

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


class UnitPlan(_Model):
    fps: str
    frame_count: int
    units: list[Unit] = Field(min_length=1)


class CleanStarts(_Model):
    """The frames a unit may start on for split to copy it (tasks/media/copy_units.py), as
    [start, end) ranges: an intra-only film is one range, a long-GOP one a range per GOP."""

    frame_count: int = Field(gt=0)
    ranges: list[tuple[int, int]]

    @model_validator(mode="after")
    def _sorted_and_apart(self) -> CleanStarts:
        last = -1  # the end of the previous range: ranges neither overlap nor touch
        for start, end in self.ranges:
            if not last < start < end <= self.frame_count:
                raise ValueError(f"range [{start}, {end}) is empty, unsorted or past the film")
            last = end
        return self

    @classmethod
    def of(cls, frames: Sequence[int], frame_count: int) -> CleanStarts:
        """From sorted, distinct frame numbers."""
        ranges: list[tuple[int, int]] = []
        for frame in frames:
            if ranges and ranges[-1][1] == frame:
                ranges[-1] = (ranges[-1][0], frame + 1)
            else:
                ranges.append((frame, frame + 1))
        return cls(frame_count=frame_count, ranges=ranges)

    def __contains__(self, frame: int) -> bool:
        return self.nearest(frame) == frame

    def nearest(self, frame: int) -> int | None:
        """The clean start closest to `frame` (the earlier one on a tie); None if there is none."""
        at = bisect.bisect_right(self.ranges, (frame, self.frame_count + 1)) - 1
        candidates = []
        if at >= 0:  # the range starting at or before `frame`
            candidates.append(min(frame, self.ranges[at][1] - 1))
        if at + 1 < len(self.ranges):
            candidates.append(self.ranges[at + 1][0])
        return min(candidates, key=lambda c: (abs(c - frame), c), default=None)


class ShotFaces(_Model):
    shot: int
    frames: int
    faces_found: int
    faces_swapped: int
    flicker: float | None = Field(
        default=None,
        description="frame-to-frame change inside swapped faces over the source's change there "
        "(1: as steady as the source); None without two consecutive swapped frames",
    )
    frames_reused: int = Field(default=0, ge=0, description="frames taken from an earlier render")
    reused_from: str | None = Field(
        default=None, description="the run those frames came from (most of them); None: computed"
    )
    needs_compositor: int = Field(
        default=0,
        ge=0,
        description="faces chosen but left unswapped, turned further than the swap can follow",
    )
    compositor_faces: int = Field(
        default=0,
        ge=0,
        description="distinct faces (tracks) among those, each counted once however many frames",
    )


class UnitResult(_Model):
    """What a swap or restore pod reports back through XCom: small and JSON."""

    unit_id: str
    stage: str
    frames: int
    faces_found: int = 0
    faces_swapped: int = 0
    per_shot: list[ShotFaces] = []
    seconds: float
    output: str
    faces_restored: int = 0
    backend: str = Field(default="", description="offline or neural: which models did the work")
    timings: dict[str, float] = Field(
        default_factory=dict, description="seconds per step: decode, detect, swap, encode, ..."
    )
    efficiency: float | None = Field(
        default=None, description="model-inference seconds / unit wall seconds"
    )
    cached: bool = Field(
        default=False, description="reused from a done marker or the unit cache: no engine work"
    )
    frames_reused: int = Field(
        default=0, ge=0, description="frames taken from earlier renders (tasks.reuse)"
    )
