"""The face engine: detection, identity, tracking, swap, restoration and paste-back.

Models come from the model store (`tasks.models`, RECAST_MODELS) when one is configured, from
packages otherwise (`tasks.faces.backend` decides); `tasks.faces.pipeline` overlaps decoding,
inference and encoding for the swap and restore stages.
"""

from tasks.faces.detect import Face, detect_faces
from tasks.faces.engine import FaceEngine, FrameResult, Mapping
from tasks.faces.images import load_image

__all__ = ["Face", "FaceEngine", "FrameResult", "Mapping", "detect_faces", "load_image"]
