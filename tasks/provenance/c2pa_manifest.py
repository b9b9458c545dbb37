"""Sign a film with a C2PA manifest saying it is AI-altered, and read it back to verify it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.provenance.identity import SigningIdentity

# IPTC digital source type for media edited with a trained model (a face swap is one).
COMPOSITE_AI = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
RECAST_ASSERTION = "com.recast.render"
MIME = {".mp4": "video/mp4", ".mov": "video/quicktime", ".m4v": "video/mp4"}


@dataclass(frozen=True)
class RenderFacts:
    """What the manifest and the sidecar state about one render."""

    run_id: str
    asset: str
    models: list[dict[str, str]]  # name, version / sha256, role
    consent_references: list[str]
    faces_swapped: int
    spec_fingerprint: str
    software: str = "recast/0.1.0"
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ai_altered": True,
            "digital_source_type": COMPOSITE_AI,
            "run_id": self.run_id,
            "asset": self.asset,
            "models": self.models,
            "consent_references": self.consent_references,
            "faces_swapped": self.faces_swapped,
            "spec_fingerprint": self.spec_fingerprint,
            "software": self.software,
            **self.extra,
        }


def manifest_definition(facts: RenderFacts, title: str) -> dict[str, Any]:
    agent = {"name": "Recast", "version": facts.software.split("/")[-1]}
    return {
        "claim_generator_info": [agent],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": COMPOSITE_AI,
                            "softwareAgent": agent,
                        },
                        {
                            "action": "c2pa.edited",
                            "digitalSourceType": COMPOSITE_AI,
                            "softwareAgent": agent,
                            "description": "faces replaced and restored by trained models",
                            "parameters": {"run_id": facts.run_id, "models": facts.models},
                        },
                    ]
                },
            },
            {"label": RECAST_ASSERTION, "data": facts.as_dict()},
        ],
    }


def _mime(path: Path) -> str:
    try:
        return MIME[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"C2PA signing supports {sorted(MIME)}, not {path.suffix}") from None


def sign(src: Path, dst: Path, facts: RenderFacts, identity: SigningIdentity) -> Path:
    """Write `dst`: `src` with the manifest embedded. `src` is left as it was."""
    import c2pa

    mime = _mime(src)
    info = c2pa.C2paSignerInfo(
        alg=c2pa.C2paSigningAlg.ES256,
        sign_cert=identity.chain_pem,
        private_key=identity.key_pem,
        ta_url=None,  # no time-stamp authority is reachable from a render node
    )
    definition = json.dumps(manifest_definition(facts, dst.name))
    tmp = dst.with_name(f".{dst.name}.signing")
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(definition) as builder,
        src.open("rb") as source,
        tmp.open("w+b") as dest,
    ):
        builder.sign(signer, mime, source, dest)
    tmp.replace(dst)
    return dst


@dataclass(frozen=True)
class Verification:
    valid: bool  # the manifest is intact and the film's bytes match its hashes
    trusted: bool  # the signer chains to a configured trust anchor
    problems: list[str]
    facts: dict[str, Any] | None  # the com.recast.render assertion


def verify(path: Path, anchor_pem: bytes | None = None) -> Verification:
    import c2pa

    settings: dict[str, Any] = {"verify": {"verify_trust": anchor_pem is not None}}
    if anchor_pem is not None:
        settings["trust"] = {"trust_anchors": anchor_pem.decode()}
    try:
        with (
            c2pa.Context.from_dict(settings) as ctx,
            c2pa.Reader(str(path), context=ctx) as reader,
        ):
            store = json.loads(reader.json())
    except Exception as exc:  # c2pa raises its own error types for "no manifest" and damage
        return Verification(False, False, [f"{type(exc).__name__}: {exc}"], None)
    statuses = store.get("validation_status") or []
    results = store.get("validation_results", {}).get("activeManifest", {})
    failures = [s for s in (results.get("failure") or statuses) if "code" in s]
    codes = [s["code"] for s in failures]
    untrusted = "signingCredential.untrusted" in codes
    problems = [
        f"{s['code']}: {s.get('explanation', '')}".strip()
        for s in failures
        if s["code"] != "signingCredential.untrusted"
    ]
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    facts = next(
        (a["data"] for a in active.get("assertions", []) if a.get("label") == RECAST_ASSERTION),
        None,
    )
    return Verification(not problems, anchor_pem is not None and not untrusted, problems, facts)
