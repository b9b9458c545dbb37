"""Face detection, identity matching and the classical face swapper behind the swap stage."""

from tasks.faces.detect import Face, detect_faces
from tasks.faces.engine import FaceEngine, FrameResult, Mapping
from tasks.faces.images import load_image

__all__ = ["Face", "FaceEngine", "FrameResult", "Mapping", "detect_faces", "load_image"]
