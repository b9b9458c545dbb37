"""The model store: production weights from a folder or an S3 prefix, checked by sha256."""

from tasks.models.manifest import Manifest, ModelEntry, ModelKind
from tasks.models.store import ModelStore, ModelStoreError, cache_dir, open_store, store_uri

__all__ = [
    "Manifest",
    "ModelEntry",
    "ModelKind",
    "ModelStore",
    "ModelStoreError",
    "cache_dir",
    "open_store",
    "store_uri",
]
