"""`manifest.json` of a model store: which weights it holds, their hashes and licences.

```json
{"models": [{"name": "inswapper_128", "file": "inswapper_128.onnx", "sha256": "9c1...",
             "kind": "inswapper", "licence": "InsightFace: non-commercial research only"}]}
```
`params` carries architecture settings a file cannot tell by itself (GFPGAN's output size and
channel widths); the defaults are those of the released models.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ModelKind = Literal["scrfd", "arcface", "inswapper", "gfpgan", "gfpgan_onnx", "transnetv2"]
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)

ParamValue = int | float | bool | str


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    file: str = Field(min_length=1, max_length=300, description="path relative to the store")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: ModelKind
    licence: str = Field(default="", max_length=500)
    params: dict[str, ParamValue] = Field(default_factory=dict)

    @field_validator("sha256", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @field_validator("file")
    @classmethod
    def _relative(cls, v: str) -> str:
        parts = v.split("/")
        if v.startswith("/") or "\\" in v or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"file {v!r} must be a plain relative path inside the store")
        return v


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[ModelEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        names = [m.name for m in self.models]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"model names listed twice: {', '.join(duplicated)}")
        return self

    def first(self, kind: ModelKind) -> ModelEntry | None:
        """The store's model of that kind (the first listed, when there are several)."""
        return next((m for m in self.models if m.kind == kind), None)
