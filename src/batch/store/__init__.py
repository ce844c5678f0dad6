"""The manifest store: batches, jobs, attempts and their checked transitions (docs/store.md)."""

from batch.store._browse import BatchFilter, BatchPosition, JobFilter
from batch.store._keys import BatchKeys
from batch.store._pools import LeaseResult, PoolDemand, PoolEntry
from batch.store._url import StoreUrl
from batch.store.manifest import DB_FILENAME, REQUEUABLE, ManifestStore, default_store_path

__all__ = [
    "DB_FILENAME",
    "REQUEUABLE",
    "BatchFilter",
    "BatchKeys",
    "BatchPosition",
    "JobFilter",
    "LeaseResult",
    "ManifestStore",
    "PoolDemand",
    "PoolEntry",
    "StoreUrl",
    "default_store_path",
]
