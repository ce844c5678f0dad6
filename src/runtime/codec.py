"""Versioned JSON for the seam: a ``JobSpec`` goes to a runner, an ``AttemptOutcome``
comes back (a Celery message, an HTTP body, a queue entry).

Every document carries ``"v": 3`` (version 2 added a spec's ``pool`` and an outcome's
``pool_unusable``, version 3 an outcome's ``evidence_note``; older documents, which
lack them, are still read). Decoding
refuses what it cannot honour rather than guess, with a ``CodecError`` naming the field:

- another version: a newer sender's document is refused, never half-read;
- unknown fields are refused too, deliberately: a field this version does not know
  may change what an attempt does (a spec) or what it means (an outcome), and
  dropping it silently could, say, enter a row its sender only meant to check. A
  sender that adds a field bumps ``v``;
- a missing or mistyped field, an unknown error category, an outcome whose ``ok``
  and ``category`` disagree.

The output is ASCII (everything else escaped), so any transport carries it byte for
byte, lone surrogates in a row's values included.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from runtime.outcome import Artifact, AttemptOutcome, ErrorCategory, JobSpec, SettingValue

__all__ = [
    "VERSION",
    "CodecError",
    "outcome_from_json",
    "outcome_to_json",
    "spec_from_json",
    "spec_to_json",
]

VERSION = 3
READABLE = (1, 2, 3)
"""Versions ``*_from_json`` accepts: older documents simply lack the newer fields."""

T = TypeVar("T")


class CodecError(ValueError):
    """A document this version cannot read. The sender's or the transport's problem,
    not a user's, so it stands outside the ``BatchEngineError`` tree."""


# --- encoding ---------------------------------------------------------------------


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps({"v": VERSION, **document}, allow_nan=False, separators=(",", ":"))


def spec_to_json(spec: JobSpec) -> str:
    """The spec as a version-3 JSON document."""
    return _dumps(
        {
            "job_id": spec.job_id,
            "batch_id": spec.batch_id,
            "row_index": spec.row_index,
            "row": dict(spec.row),
            "attempt": spec.attempt,
            "verify": spec.verify,
            "flow_hash": spec.flow_hash,
            "settings": {
                name: list(value) if isinstance(value, tuple) else value
                for name, value in spec.settings.items()
            },
            "pool": {name: dict(entry) for name, entry in spec.pool.items()},
        }
    )


def outcome_to_json(outcome: AttemptOutcome) -> str:
    """The outcome as a version-3 JSON document."""
    return _dumps(
        {
            "ok": outcome.ok,
            "duration_s": outcome.duration_s,
            "category": None if outcome.category is None else outcome.category.value,
            "message": outcome.message,
            "artifacts": [
                {"kind": a.kind, "path": a.path, "name": a.name} for a in outcome.artifacts
            ],
            "extracted": dict(outcome.extracted),
            "retry_after_s": outcome.retry_after_s,
            "pool_unusable": list(outcome.pool_unusable),
            "evidence_note": outcome.evidence_note,
        }
    )


# --- decoding ---------------------------------------------------------------------


class _Fields:
    """The fields of one JSON object, each taken once and checked; ``done`` refuses
    whatever was not taken."""

    def __init__(self, data: object, what: str) -> None:
        if not isinstance(data, dict):
            raise CodecError(f"{what}: expected a JSON object, got {_kind(data)}")
        self.data: dict[str, object] = data
        self.what = what
        self.taken: set[str] = set()
        self.version = VERSION

    def since(
        self, version: int, name: str, check: Callable[[object], T], expected: str, default: T
    ) -> T:
        """A field added in ``version``: required from then on, ``default`` before."""
        if self.version < version:
            return default
        return self.take(name, check, expected)

    def take(self, name: str, check: Callable[[object], T], expected: str) -> T:
        if name not in self.data:
            raise CodecError(f"{self.what}: field {name!r} is missing")
        self.taken.add(name)
        value = self.data[name]
        try:
            return check(value)
        except CodecError:
            raise
        except (TypeError, ValueError):
            raise CodecError(
                f"{self.what}: field {name!r} must be {expected}, got {_kind(value)} {value!r:.80}"
            ) from None

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.taken)
        if unknown:
            raise CodecError(
                f"{self.what}: unknown field(s) {', '.join(map(repr, unknown))} "
                f"(version {self.version} does not have them; a sender adding fields bumps 'v')"
            )


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    return float(value)


def _optional_float(value: object) -> float | None:
    return None if value is None else _float(value)


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TypeError
    return dict(value)


def _pool(value: object) -> Mapping[str, Mapping[str, str]]:
    if not isinstance(value, dict):
        raise TypeError
    return MappingProxyType({str(name): _strings(entry) for name, entry in value.items()})


_NO_POOL: Mapping[str, Mapping[str, str]] = MappingProxyType({})


def _names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError
    return tuple(_str(item) for item in value)


def _setting(value: object) -> SettingValue:
    if isinstance(value, list):
        return tuple(_str(item) for item in value)
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    raise TypeError


def _settings(value: object) -> Mapping[str, SettingValue]:
    if not isinstance(value, dict):
        raise TypeError
    return MappingProxyType({name: _setting(item) for name, item in value.items()})


def _category(value: object) -> ErrorCategory | None:
    return None if value is None else ErrorCategory(_str(value))


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _document(text: str | bytes, what: str) -> _Fields:
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CodecError(f"{what}: not JSON ({exc})") from None
    fields = _Fields(data, what)
    version = fields.take("v", _int, "an integer")
    if version not in READABLE:
        raise CodecError(
            f"{what}: version {version} is not supported (this batchwright reads versions "
            f"{', '.join(map(str, READABLE))}); upgrade the side that reads it"
        )
    fields.version = version
    return fields


def spec_from_json(text: str | bytes) -> JobSpec:
    """A spec from a version-1 to -3 document; ``CodecError`` for anything else."""
    fields = _document(text, "job spec")
    spec = JobSpec(
        job_id=fields.take("job_id", _str, "a string"),
        batch_id=fields.take("batch_id", _str, "a string"),
        row_index=fields.take("row_index", _int, "an integer"),
        row=fields.take("row", _strings, "an object of strings"),
        attempt=fields.take("attempt", _int, "an integer"),
        verify=fields.take("verify", _bool, "a boolean"),
        flow_hash=fields.take("flow_hash", _str, "a string"),
        settings=fields.take(
            "settings", _settings, "an object of strings, numbers, booleans, null or string lists"
        ),
        pool=fields.since(2, "pool", _pool, "an object of objects of strings", _NO_POOL),
    )
    fields.done()
    return spec


def _artifact(value: object, where: str) -> Artifact:
    fields = _Fields(value, where)
    artifact = Artifact(
        kind=fields.take("kind", _str, "a string"),
        path=fields.take("path", _str, "a string"),
        name=fields.take("name", _str, "a string"),
    )
    fields.done()
    return artifact


def _artifacts(value: object) -> tuple[Artifact, ...]:
    if not isinstance(value, list):
        raise TypeError
    return tuple(
        _artifact(item, f"attempt outcome: artifacts[{n}]") for n, item in enumerate(value)
    )


def outcome_from_json(text: str | bytes) -> AttemptOutcome:
    """An outcome from a version-1 to -3 document; ``CodecError`` for anything else."""
    fields = _document(text, "attempt outcome")
    outcome = AttemptOutcome(
        ok=fields.take("ok", _bool, "a boolean"),
        duration_s=fields.take("duration_s", _float, "a number"),
        category=fields.take(
            "category", _category, f"null or one of {', '.join(c.value for c in ErrorCategory)}"
        ),
        message=fields.take("message", _str, "a string"),
        artifacts=fields.take("artifacts", _artifacts, "an array of artifacts"),
        extracted=fields.take("extracted", _strings, "an object of strings"),
        retry_after_s=fields.take("retry_after_s", _optional_float, "null or a number"),
        pool_unusable=fields.since(2, "pool_unusable", _names, "an array of strings", ()),
        evidence_note=fields.since(3, "evidence_note", _str, "a string", ""),
    )
    fields.done()
    if outcome.ok != (outcome.category is None):
        raise CodecError(
            "attempt outcome: 'category' must be null exactly when 'ok' is true, "
            f"got ok={outcome.ok} and category={outcome.category}"
        )
    return outcome
