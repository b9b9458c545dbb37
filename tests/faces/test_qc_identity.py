"""QC identity on a real two-mapping render, through the real stages, offline and neural.

The astronaut (-> Lisa) and Matt (-> another t1 person) share every frame; each mapping picks
its actor by reference. The swap logs which mapping wrote each face, and finalize scores each
face against that mapping's source: the numbers are recomputed here from the films, the log and
the sources with an embedder of the test's own (dlib offline; on the neural path the store's
ArcFace file run directly by onnxruntime on insightface's aligned crops).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from face_samples import person
from insightface.utils import face_align
from skimage import data

from recast.samples import ShotSpec, make_film
from tasks import storage
from tasks.faces import faces_log
from tasks.faces.detect import Face, detect_faces
from tasks.faces.embed import embed_face
from tasks.layout import RunLayout
from tasks.media.frames import read_frames
from tasks.stages import swap
from tests.stage_chain import render_stages

SIDE = 320
FRAMES = 8
Embed = Callable[[np.ndarray, Face], np.ndarray]


def _png(path: Path, image: np.ndarray) -> str:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return str(path)


def _render(tmp: Path, t1: np.ndarray, lisa: np.ndarray) -> tuple[RunLayout, Path, list[Path]]:
    """Both actors in one still shot, rendered through every stage up to finalize."""
    matt = person(t1, 3)
    pair = np.hstack([cv2.resize(data.astronaut(), (SIDE, SIDE)), cv2.resize(matt, (SIDE, SIDE))])
    film = make_film(tmp / "film.mp4", [ShotSpec(pair, FRAMES, 440.0)], size=(640, 320))
    sources = [tmp / "lisa.png", tmp / "other.png"]
    _png(sources[0], lisa)
    _png(sources[1], person(t1, 1))
    mirrored = [np.ascontiguousarray(img[:, ::-1]) for img in (data.astronaut(), matt)]
    faces = [
        {"source": str(source), "reference": _png(tmp / f"ref-{i}.png", ref)}
        for i, (source, ref) in enumerate(zip(sources, mirrored, strict=True))
    ]
    layout = RunLayout(str(tmp / "run"))
    spec = {"asset": str(film), "faces": faces, "consent_reference": "C-9"}
    storage.write_json(layout.spec, spec)
    shot = {"index": 0, "start_frame": 0, "end_frame": FRAMES}
    storage.write_json(layout.shots, {"fps": "24", "frame_count": FRAMES, "shots": [shot]})
    render_stages(film, layout, "r9")
    return layout, film, sources


def _arcface(model: Path) -> Embed:
    """The store's ArcFace file on its own: insightface's 112 px aligned crop, (x-127.5)/127.5,
    RGB planes, L2-normalised output; none of tasks' code."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])

    def embed(image: np.ndarray, face: Face) -> np.ndarray:
        crop = face_align.norm_crop(image, landmark=face.kps, image_size=112)
        blob = ((crop.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        vector = session.run(None, {"input.1": blob})[0][0]
        return np.asarray(vector / np.linalg.norm(vector))

    return embed


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")  # insightface
def test_each_face_is_scored_against_its_own_mappings_source(
    tmp_path: Path, t1: np.ndarray, lisa: np.ndarray, store_dir: Path, neural: bool
) -> None:
    layout, film, sources = _render(tmp_path, t1, lisa)
    qc = storage.read_json(layout.qc_json)
    assert qc["identity_model"] == ("arcface" if neural else "dlib")
    embed: Embed = _arcface(store_dir / "arcface.onnx") if neural else embed_face

    # The log: every written face names its mapping, by the side its actor stands on.
    (unit,) = json.loads(Path(layout.plan).read_text())["units"]
    log = json.loads(Path(layout.unit(unit["id"], swap.FACES_LOG)).read_text())
    logged = faces_log.entries(log)
    assert sorted(logged) == list(range(FRAMES))
    for entries in logged.values():
        assert sorted((e.face.bbox[0] > SIDE, e.mapping) for e in entries) == [
            (False, 0),
            (True, 1),
        ]

    images = [cv2.cvtColor(cv2.imread(str(s)), cv2.COLOR_BGR2RGB) for s in sources]
    wanted = [embed(image, detect_faces(image)[0]) for image in images]
    before, after = list(read_frames(film)), list(read_frames(Path(layout.film)))
    (row,) = qc["per_shot"]
    assert len(row["identity"]) == 2 * 3  # both faces of 3 sampled frames
    nearer_the_other = 0
    for sample in row["identity"]:
        (entry,) = [e for e in logged[sample["frame"]] if e.track == sample["track"]]
        assert sample["mapping"] == entry.mapping
        delivered = embed(after[sample["frame"]], entry.face)
        own, other = wanted[entry.mapping], wanted[1 - entry.mapping]
        assert sample["to_source"] == pytest.approx(_cosine(delivered, own), abs=1e-4)
        if _cosine(delivered, other) > sample["to_source"]:
            nearer_the_other += 1
        original = embed(before[sample["frame"]], entry.face)
        assert sample["to_original"] == pytest.approx(_cosine(delivered, original), abs=1e-4)
    assert {s["mapping"] for s in row["identity"]} == {0, 1}
    # The contract swapper (random weights) leaves faces nearer the other mapping's source
    # (3 or 6 of 6, depending on the keypoints): scoring a face against the source it
    # resembles most is wrong there. Real swaps all land nearer their own.
    assert nearer_the_other >= 3 if neural else nearer_the_other == 0
