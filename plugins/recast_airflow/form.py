"""The trigger form of recast_render, built from the spec itself.

Types, bounds and defaults come from `tasks.spec.RenderSpec`'s JSON schema, the choices from its
`Literal` tuples and the tier list from the tier file: add a delivery preset or a tier there
and the form offers it. This module only adds what a person needs on screen (titles, help,
sections, display names) and the demo inputs as defaults.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from recast_airflow.config import Settings
from recast_airflow.tiers import gpu_tiers, load_tiers
from tasks.spec import DELIVERY_PRESETS, MEZZANINES, PLATE_FORMATS, RESTORE_MODES, RenderSpec

_ADVANCED = "Advanced"
_SHOTS = "Shot deliveries"
_PLATES = {"prores4444": "ProRes 4444 MOV", "exr": "OpenEXR 16-bit half", "dpx": "DPX 10-bit"}
# field: (title, description, section)
_TEXT: dict[str, tuple[str, str, str | None]] = {
    "asset": ("Asset", "s3:// URI of the film to render", None),
    "faces": (
        "Face mappings",
        "One entry per actor: `source` is an image of the face to put in; `reference`, when "
        "given, is an image of the person in the film to replace (without it every face is "
        "replaced).",
        None,
    ),
    "consent_reference": (
        "Consent reference",
        "ID of the signed consent or release that covers these faces (kept in the report)",
        None,
    ),
    "restore": ("Face restoration", "Off, or the restoration model run after the swap", None),
    "restore_strength": ("Restoration strength", "0: none of the restored face, 1: all", None),
    "delivery": ("Delivery preset", "Codec and container of the published film", None),
    "deliveries": (
        "Deliveries",
        "review: the H.264 film (always made); master: ProRes 422 HQ MOV; shots: each shot with "
        "a replaced face as a clip with handles, plus the conform OTIO/EDL",
        None,
    ),
    "plate_format": ("Shot clip format", "Format of the `shots` delivery's clips", _SHOTS),
    "handles": ("Handles (frames)", "Extra frames each side of a shot clip (0-100)", _SHOTS),
    "source_plates": (
        "Source plates",
        "Also deliver the untouched source of each shot clip (`_plate_src`)",
        _SHOTS,
    ),
    "start_timecode": (
        "Start timecode",
        "HH:MM:SS:FF for an asset without its own timecode (default 00:00:00:00)",
        _SHOTS,
    ),
    "mezzanine": ("Mezzanine", "Lossless intermediate codec between the stages", None),
    "tier": ("Priority tier", "GPU tier of the swap and restore pods", None),
    "output_prefix": (
        "Output prefix",
        "Published under s3://<work bucket>/<prefix>/<asset>/<run id>/",
        None,
    ),
    "swapper": (
        "Swapper",
        "auto: the neural swapper when the model store has it, else the classical one",
        _ADVANCED,
    ),
    "shot_detector": (
        "Shot detector",
        "classical; fused: TransNetV2 as a second opinion (flash cuts, cuts within a scene; "
        "slower); learned: TransNetV2 alone",
        _ADVANCED,
    ),
    "max_units": ("Max work units", "Cap on swap/restore tasks (pods) for this film", _ADVANCED),
    "unit_frames": ("Unit length (frames)", "Longest unit before a shot is cut", _ADVANCED),
    "match_threshold": (
        "Identity match threshold",
        "Largest identity distance at which a face counts as the reference person",
        _ADVANCED,
    ),
}
_SCHEMA_KEYS: tuple[str, ...] = ("type", "enum", "minimum", "maximum", "exclusiveMinimum")
_SCHEMA_KEYS += ("pattern", "minItems", "maxItems", "items", "maxLength", "minLength")


def _inline(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Resolve $ref and turn `anyOf [X, null]` into `type: [X, null]`: the form reads neither."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        types = [s.get("type") for s in schema["anyOf"]]
        first = next(s for s in schema["anyOf"] if s.get("type") != "null")
        schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **first, "type": types}
        if "enum" in schema and "null" in types:
            schema["enum"] = [*schema["enum"], None]
    out = {k: v for k, v in schema.items() if k in (*_SCHEMA_KEYS, "properties", "required")}
    if "properties" in out:  # titles and help of the nested fields (a face's source, ...)
        out["properties"] = {
            k: {**_inline(v, defs), **{t: v[t] for t in ("title", "description") if t in v}}
            for k, v in out["properties"].items()
        }
        out["additionalProperties"] = False
    if "items" in out:
        out["items"] = _inline(out["items"], defs)
    return out


def _demo_defaults(settings: Settings) -> dict[str, Any]:
    """The inputs `recast up` uploads, so the form runs as it opens."""
    bucket = settings.work_uri.removeprefix("s3://").split("/", 1)[0]
    return {
        "asset": f"s3://{bucket}/inputs/demo.mp4",
        "faces": [
            {
                "source": f"s3://{bucket}/faces/source.png",
                "reference": f"s3://{bucket}/faces/reference.png",
            }
        ],
    }


def render_params(settings: Settings) -> dict[str, Param]:
    schema = RenderSpec.model_json_schema()
    defs, fields = schema.get("$defs", {}), schema["properties"]
    tiers = gpu_tiers(load_tiers(settings.tiers_file))
    enums: dict[str, tuple[list[str], dict[str, str]]] = {
        "restore": (list(RESTORE_MODES), {"none": "Off"}),
        "delivery": (list(DELIVERY_PRESETS), {}),
        "mezzanine": (list(MEZZANINES), {}),
        "plate_format": (list(PLATE_FORMATS), _PLATES),
        "tier": (list(tiers), {n: f"{n}: {t.description}" for n, t in tiers.items()}),
    }
    defaults = {name: f.get("default") for name, f in fields.items()} | _demo_defaults(settings)
    params: dict[str, Param] = {}
    # The fields above in their order, then any the spec gains later, under "Advanced".
    for name in [*(n for n in _TEXT if n in fields), *(n for n in fields if n not in _TEXT)]:
        auto = (fields[name].get("title", name), fields[name].get("description", ""), _ADVANCED)
        title, description, section = _TEXT.get(name, auto)
        field = _inline(fields[name], defs)
        extra: dict[str, Any] = {"section": section} if section else {}
        if name in enums:
            choices, display = enums[name]
            field = {"type": "string", "enum": choices}
            extra["values_display"] = {c: display.get(c, c) for c in choices}
        params[name] = Param(
            defaults.get(name), title=title, description=description, **field, **extra
        )
    return params
