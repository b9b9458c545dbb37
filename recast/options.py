"""`recast render`'s settings flags, generated from the render spec (`tasks.spec.RenderSpec`).

Every spec field is a `--field-name` flag: its type, choices (`Literal`), bounds and default
come from the field, its help from the field's description, so a field added to the spec is a
flag with no change here. `asset` and `faces` keep their own forms (the INPUT argument,
`--face SOURCE[:REFERENCE]`); structured fields (lists of mappings, nested models) take JSON or
YAML text. A flag left out is absent from the result: the job file's value, else the spec's
default, stands.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic.fields import FieldInfo

from tasks.spec import RenderSpec

OWN_FORM = ("asset", "faces")  # INPUT and --face
# The flags the CLI had before, and the short spellings of the versions fields.
ALIASES = {
    "consent_reference": ("--consent",),
    "base_run": ("--base",),
    "deliveries": ("--deliver",),  # issue 14: `--deliver shots --plate-format exr`
}
DEST = "spec."  # argparse dest prefix: apart from the CLI's own options (--out, --spec)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type without Annotated and None, whether None is allowed)."""
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(get_args(annotation))
            if len(args) != 1:
                return annotation, nullable
            annotation = args[0]
        else:
            return annotation, nullable


def _structured(text: str) -> Any:
    """JSON or YAML text (JSON is YAML): a list of mappings, a nested model, ..."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"not JSON or YAML: {text!r}") from exc


def _scalar(kind: type) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from exc

    convert.__name__ = kind.__name__  # argparse names the type in its errors
    return convert


def argument(info: FieldInfo) -> dict[str, Any]:
    """argparse keywords for one spec field."""
    kind, _ = _unwrap(info.annotation)
    origin = get_origin(kind)
    if origin is Literal:
        choices = get_args(kind)
        return {"type": type(choices[0]), "choices": choices}
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction}
    if kind in (int, float, str):
        return {"type": _scalar(kind), "metavar": kind.__name__.upper()}
    if origin is list:
        item, _ = _unwrap(get_args(kind)[0])
        if item in (int, float, str) or get_origin(item) is Literal:
            # One or more values, and repeatable: --shots 3 5 --shots 9.
            inner = argument(FieldInfo(annotation=item))
            return {**inner, "action": "extend", "nargs": "+"}
        if get_origin(item) in (typing.Union, types.UnionType):
            # Mixed items (shot indices or timecode ranges): --shots 12,40 or --shots 12 40.
            return {"type": _listed, "action": "extend", "metavar": "A,B"}
    return {"type": _structured, "metavar": "JSON"}


def _listed(text: str) -> list[int | str]:
    """`12,00:00:01:00-00:00:02:00` -> [12, '00:00:01:00-00:00:02:00']: numbers as int."""
    return [int(v) if v.strip().isdigit() else v.strip() for v in text.split(",") if v.strip()]


def _help(name: str, info: FieldInfo) -> str:
    text = info.description or name.replace("_", " ")
    default = info.get_default(call_default_factory=True)
    if default is not None and default != [] and default != {}:
        text += f" (default: {default})"
    return text.replace("%", "%%")  # argparse formats help with %


def add_spec_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "render settings", "one flag per field of the render spec; a flag overrides --spec"
    )
    for name, info in RenderSpec.model_fields.items():
        if name in OWN_FORM:
            continue
        group.add_argument(
            flag(name),
            *ALIASES.get(name, ()),
            dest=DEST + name,
            default=argparse.SUPPRESS,
            help=_help(name, info),
            **argument(info),
        )


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The spec fields set on the command line."""
    return {k[len(DEST) :]: v for k, v in vars(args).items() if k.startswith(DEST)}
