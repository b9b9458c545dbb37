"""Delivery presets: the codecs and containers a render can be delivered in.

- `review`: H.264 (CRF 18, yuv420p, even size by padding one pixel) + AAC in MP4, web-friendly.
  Audio that MP4 carries as it is (AAC, MP3, AC-3, ...) is copied untouched; the rest is
  encoded to AAC.
- `master`: ProRes 422 HQ (10-bit 4:2:2) + PCM in MOV, for conform and grading. PCM audio is
  copied untouched; anything else is decoded to 24-bit PCM (lossless from the decoded samples).
Text subtitles go to both as mov_text (copied when they are mov_text already); bitmap ones
(DVD, Blu-ray, DVB) have no place in MP4 or MOV and are left out (the probe warns).
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.spec import DeliveryPreset, SubtitleStream

TEXT_SUBTITLES = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"})


@dataclass(frozen=True)
class Delivery:
    name: DeliveryPreset
    suffix: str
    video: tuple[str, ...]
    pix_fmt: str
    even_height: bool  # 4:2:0 needs both sides even; 4:2:2 only the width
    copy_audio: frozenset[str]
    audio: tuple[str, ...]
    muxer: tuple[str, ...] = ()


PRESETS: dict[str, Delivery] = {
    "review": Delivery(
        name="review",
        suffix=".mp4",
        video=("-c:v", "libx264", "-preset", "medium", "-crf", "18"),
        pix_fmt="yuv420p",
        even_height=True,
        copy_audio=frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}),
        audio=("aac", "-b:a:{index}", "192k"),
        muxer=("-movflags", "+faststart"),
    ),
    "master": Delivery(
        name="master",
        suffix=".mov",
        video=("-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0"),
        pix_fmt="yuv422p10le",
        even_height=False,
        copy_audio=frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_s16be", "pcm_s24be"}),
        audio=("pcm_s24le",),
        muxer=("-movflags", "+write_colr"),
    ),
}


def preset(name: str) -> Delivery:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"delivery preset {name!r} is not one of {sorted(PRESETS)}") from None


# Decoded sound follows its timestamps, as a player plays it: a joined file's gaps are filled
# with silence and its overlaps dropped, so it keeps sync with the frames (assemble keeps the
# joins' gaps), where ffmpeg would otherwise lay the samples end to end. Timestamps off by
# less than this (rounded to the millisecond in Matroska) are left alone.
FOLLOW_TIMESTAMPS = "aresample=async=1:min_hard_comp=0.005"


def audio_args(delivery: Delivery, codecs: list[str]) -> list[str]:
    """Per-stream codec options: copy what the container takes as it is, encode the rest."""
    args: list[str] = []
    for index, codec in enumerate(codecs):
        if codec in delivery.copy_audio:
            args += [f"-c:a:{index}", "copy"]
        else:
            encoder, *rest = delivery.audio
            args += [f"-c:a:{index}", encoder, *(a.format(index=index) for a in rest)]
            args += [f"-filter:a:{index}", FOLLOW_TIMESTAMPS]
    return args


def subtitle_args(subtitles: list[SubtitleStream], source_input: int) -> list[str]:
    """Maps and codecs that carry the text subtitle streams of input `source_input`."""
    args: list[str] = []
    text = [s for s in subtitles if s.codec in TEXT_SUBTITLES]
    for index, stream in enumerate(text):
        codec = "copy" if stream.codec == "mov_text" else "mov_text"
        args += ["-map", f"{source_input}:{stream.index}", f"-c:s:{index}", codec]
    return args
