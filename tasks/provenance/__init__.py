"""Provenance: a signed C2PA manifest in the published film, and a JSON sidecar."""
