"""batchwright's batch domain: CSV in, manifest, jobs, engine, reports, CLI.

The public API, as ``spec/batch-module-readme.md`` documents it::

    from batch import BatchEngine, start_batch
    from runtime.run_context import RunContext

    engine = BatchEngine(RunContext(), config={"flow": "flow.yaml"})
    manifest = engine.create_batch_jobs("customers.csv")
    result = await engine.execute_batch_jobs(manifest.batch_id)

    group = engine.create_batch_group("exports/")   # one batch per CSV of the folder
    summary = await engine.execute_group(group.group_id)
"""

from batch.engine import BatchEngine, start_batch
from batch.exceptions import (
    BatchEngineError,
    BatchNotFoundError,
    BrowserNotFoundError,
    BusinessError,
    ConfigurationError,
    FileProcessingError,
    FlowError,
    InvalidTransitionError,
    SecurityError,
    StoreError,
)
from batch.groups.start import start_batch_group
from batch.groups.summary import GroupSummary
from batch.models import (
    AttemptRecord,
    BatchGroup,
    BatchJob,
    BatchManifest,
    BatchStatus,
    ErrorCategory,
    JobStatus,
    ProgressEvent,
    RefusedFile,
)
from batch.reports.summary import BatchSummary
from batch.run.retry_request import RetryRequest
from batch.settings import BatchSettings, load_settings

__all__ = [
    "AttemptRecord",
    "BatchEngine",
    "BatchEngineError",
    "BatchGroup",
    "BatchJob",
    "BatchManifest",
    "BatchNotFoundError",
    "BatchSettings",
    "BatchStatus",
    "BatchSummary",
    "BrowserNotFoundError",
    "BusinessError",
    "ConfigurationError",
    "ErrorCategory",
    "FileProcessingError",
    "FlowError",
    "GroupSummary",
    "InvalidTransitionError",
    "JobStatus",
    "ProgressEvent",
    "RefusedFile",
    "RetryRequest",
    "SecurityError",
    "StoreError",
    "load_settings",
    "start_batch",
    "start_batch_group",
]
