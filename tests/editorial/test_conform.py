"""The `shots` delivery and its conform, proved by conforming.

A 3-shot film at 25 fps with timecode 01:00:00:00 is split into one unit per shot; the middle
shot's unit is "replaced" (its pictures negated, as a face swap changes them) and the units are
assembled into the ProRes master. That shot is delivered as a clip with handles; the conform
timeline lays it over the original film. The test then rebuilds the film from the original and
the delivered clip by following the OTIO timeline through `opentimelineio` alone (media
references, available and source ranges) and compares it frame for frame with the master:
every frame within 36 dB PSNR (RGB, 8-bit). Measured here: worst frame 40.1-40.6 dB by format
(37.9 when the swap wrote RGB FFV1 units; now they keep the split's YUV: tasks.faces.passthrough)
(ProRes 4444, half EXR, 10-bit DPX clips), the spread being the ProRes 422 master's 4:2:2 chroma
on a 96x54 picture, against the H.264 4:2:0 source for the untouched shots and the 4:4:4 clip for
the replaced one; the same rebuild from the original alone scores under 15 dB on that shot.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Iterator
from contextlib import closing
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from recast.samples import make_film, varied_shots
from tasks.editorial.export import export_editorial
from tasks.faces import passthrough
from tasks.media import plates
from tasks.media import timecode as tc
from tasks.media.assemble import assemble
from tasks.media.decode import video_frames
from tasks.media.frames import read_frames
from tasks.media.probe import probe
from tasks.media.split import split_units
from tasks.shots.plan import unit_id
from tasks.spec import Shot, ShotList, Unit

SHOTS = [10, 12, 10]
FPS = "25"
START = "01:00:00:00"
HANDLES = 4
TOLERANCE_DB = 36.0


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _shots() -> ShotList:
    bounds = np.cumsum([0, *SHOTS]).tolist()
    return ShotList(
        fps=FPS,
        frame_count=sum(SHOTS),
        shots=[
            Shot(index=i, start_frame=a, end_frame=b)
            for i, (a, b) in enumerate(itertools.pairwise(bounds))
        ],
    )


class Render:
    """The source, its units (shot 1 replaced), the master and the conform inputs."""

    def __init__(self, tmp: Path) -> None:
        made = make_film(tmp / "made.mp4", varied_shots(SHOTS), fps=FPS, size=(96, 54))
        self.source = tmp / "demo.mov"
        _ffmpeg("-i", str(made), "-c", "copy", "-timecode", START, str(self.source))
        self.info = probe(self.source)
        self.shots = _shots()
        units = [
            Unit(id=unit_id(s.index, s.start_frame, s.end_frame), index=s.index,
                 start_frame=s.start_frame, end_frame=s.end_frame, shots=[s.index])
            for s in self.shots.shots
        ]  # fmt: skip
        parts = split_units(self.source, units, tmp / "units")
        self.sources = [plates.UnitVideo(parts[u.id], u.start_frame, u.end_frame) for u in units]
        # As the swap writes them: in the split unit's own format, the replaced shot's pictures
        # changed (tasks.faces.passthrough), the others split's packets.
        self.units = [_swapped(parts[u.id], tmp / f"swapped-{u.index}.mkv", u.index == 1, u)
                      for u in units]  # fmt: skip
        self.master = tmp / "master.mov"
        assemble([u.path for u in self.units], self.source, self.master, FPS, delivery="master",
                 info=self.info, timecode=START)  # fmt: skip


def _swapped(unit: Path, out: Path, replace: bool, at: Unit) -> plates.UnitVideo:
    frames = list(read_frames(unit))
    passing = passthrough.Passthrough(unit, out)
    passing.changed = [replace] * len(frames)
    if replace:
        like = passthrough.like_of(unit)
        with closing(passthrough.writer(passing.computed, frames[0], FPS, like)) as writer:
            for frame in frames:
                writer.write(255 - frame)
    passing.finish(FPS)
    return plates.UnitVideo(out, at.start_frame, at.end_frame)


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> Render:
    return Render(tmp_path_factory.mktemp("conform"))


def _deliver(render: Render, out: Path, plate_format: str, wanted: list[int]) -> Path:
    """The delivery folder: shots/ and timeline.otio, as publish lays them out."""
    rate = Fraction(FPS)
    clips = {}
    for shot, first, end, head in plates.clip_ranges(render.shots, wanted, HANDLES):
        name = plates.clip_name("demo", shot)
        start = tc.shift(START, first, rate)
        made = plates.write_clip(render.units, render.info, first, end, out / "shots", name,
                                 plate_format, start)  # type: ignore[arg-type]  # fmt: skip
        clips[shot] = plates.ShotClip(
            shot=shot, name=name, path=made.relative_to(out).as_posix(), first=first, end=end,
            head=head, tail=end - render.shots.shots[shot].end_frame, timecode=start,
            plate_format=plate_format,
        )  # fmt: skip
    export_editorial(render.shots, str(render.source), out, name="demo", start_timecode=START,
                     clips=clips)  # fmt: skip
    return out / "timeline.otio"


def _rgb(path: Path) -> list[np.ndarray]:
    return [f.to_ndarray(format="rgb24") for f in video_frames(path)]


def _reference_frames(ref: otio.core.MediaReference, base: Path) -> Iterator[np.ndarray]:
    """Every frame of a media reference, from its available range's start."""
    if isinstance(ref, otio.schema.ImageSequenceReference):
        import OpenImageIO as oiio

        for i in range(ref.number_of_images_in_sequence()):
            url = ref.target_url_for_image_number(i)
            image = oiio.ImageInput.open(str(base / url)).read_image("float")
            yield np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
        return
    url = Path(ref.target_url)
    yield from _rgb(url if url.is_absolute() else base / url)


def rebuild(timeline_path: Path) -> list[np.ndarray]:
    """The film as an editing system conforms it: each clip's source range out of its media."""
    timeline = otio.adapters.read_from_file(str(timeline_path))
    frames: list[np.ndarray] = []
    for clip in timeline.find_clips():
        ref = clip.media_reference
        media = list(_reference_frames(ref, timeline_path.parent))
        offset = round((clip.source_range.start_time - ref.available_range.start_time).to_frames())
        count = round(clip.source_range.duration.to_frames())
        assert offset >= 0 and offset + count <= len(media), clip.name
        frames += media[offset : offset + count]
    return frames


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@pytest.mark.parametrize("plate_format", ["prores4444", "exr", "dpx"])
def test_conform_rebuilds_the_master(render: Render, tmp_path: Path, plate_format: str) -> None:
    timeline = _deliver(render, tmp_path, plate_format, wanted=[1])
    assert otio.adapters.read_from_file(str(timeline)).schema_name() == "Timeline"
    rebuilt, master = rebuild(timeline), _rgb(render.master)
    assert len(rebuilt) == len(master) == sum(SHOTS)
    scores = [_psnr(a, b) for a, b in zip(rebuilt, master, strict=True)]
    assert min(scores) >= TOLERANCE_DB, (plate_format, min(scores))
    # Without the delivered clip the replaced shot is wrong: the comparison has teeth.
    original = _rgb(render.source)
    replaced = range(SHOTS[0], SHOTS[0] + SHOTS[1])
    assert max(_psnr(original[i], master[i]) for i in replaced) < 15.0


def test_handles_stop_at_the_film_s_ends(render: Render, tmp_path: Path) -> None:
    ranges = plates.clip_ranges(render.shots, [0, 2, 1], HANDLES)
    # (shot, first, end, head): no head handle before frame 0, no tail after the last frame.
    assert ranges == [(0, 0, 14, 0), (1, 6, 26, 4), (2, 18, 32, 4)]
    timeline = _deliver(render, tmp_path, "prores4444", wanted=[0, 2])
    assert [f.shape for f in _rgb(tmp_path / "shots" / "demo_sh0000_v001.mov")] == [
        (54, 96, 3)
    ] * 14
    clips = list(otio.adapters.read_from_file(str(timeline)).find_clips())
    first = clips[0].media_reference.available_range
    assert otio.opentime.to_timecode(first.start_time, 25) == START
    assert round(first.duration.to_frames()) == 14  # the shot's 10 frames and a 4-frame tail
    assert len(rebuild(timeline)) == sum(SHOTS)


def test_exr_and_dpx_plates_read_back(render: Render, tmp_path: Path) -> None:
    import OpenImageIO as oiio

    _deliver(render, tmp_path, "exr", wanted=[1])
    _deliver(render, tmp_path, "dpx", wanted=[1])
    for suffix, pixel, bits in (("exr", "half", 0), ("dpx", "uint16", 10)):
        files = sorted((tmp_path / "shots" / "demo_sh0001_v001").glob(f"*.{suffix}"))
        assert [f.name for f in files[:2]] == [
            f"demo_sh0001_v001.{n}.{suffix}" for n in (1001, 1002)
        ]
        assert len(files) == SHOTS[1] + 2 * HANDLES
        image = oiio.ImageInput.open(str(files[HANDLES]))  # the shot's first frame
        spec = image.spec()
        assert (spec.width, spec.height, spec.nchannels, str(spec.format)) == (96, 54, 3, pixel)
        assert spec.get_int_attribute("oiio:BitsPerSample") in (bits, 16)
        # The shot starts 10 frames in: 01:00:00:10, its handles 4 frames before.
        assert tc.from_smpte_words(spec.getattribute("smpte:TimeCode")) == "01:00:00:10"
        values = image.read_image("float")
        assert values.shape == (54, 96, 3) and values.min() >= 0.0 and values.max() <= 1.0
        assert values.std() > 0.02  # a picture, not a blank
    exr = oiio.ImageInput.open(str(tmp_path / "shots/demo_sh0001_v001/demo_sh0001_v001.1001.exr"))
    assert exr.spec().getattribute("compression") == "zip"


def test_conform_edl_names_the_clips(render: Render, tmp_path: Path) -> None:
    _deliver(render, tmp_path, "prores4444", wanted=[1])
    text = (tmp_path / "conform.edl").read_text()
    events = re.findall(r"^(\d{3})\s+(\S+)\s+V\s+C\s+(\S+) (\S+) (\S+) (\S+)$", text, re.M)
    assert [e[1] for e in events] == ["DEMO", "S0001V01", "DEMO"]
    assert all(len(e[1]) <= 8 for e in events)
    # The clip's own source timecode, handles trimmed off; record at the film's timecode.
    assert events[1][2:] == ("01:00:00:10", "01:00:00:22", "01:00:00:10", "01:00:00:22")
    assert "* FROM CLIP NAME:  demo_sh0001_v001" in text


def test_a_rate_without_smpte_timecode_leaves_the_edl_out(tmp_path: Path) -> None:
    shots = ShotList(fps="12", frame_count=24, shots=[Shot(index=0, start_frame=0, end_frame=24)])
    made = export_editorial(shots, "s3://b/film.mp4", tmp_path, name="flip", start_timecode=None)
    assert made.edl is None and made.timeline.is_file()
    assert made.warnings == [made.warnings[0]] and "EDL left out" in made.warnings[0]
    assert "12 fps" in made.warnings[0]
