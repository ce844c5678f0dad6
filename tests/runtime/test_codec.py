"""The seam's JSON: any spec and outcome round-trip exactly; what version 2 cannot
honour (another version, unknown or mistyped fields) is refused, naming the field;
version-1 documents (no pool fields) are still read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.codec import (
    CodecError,
    outcome_from_json,
    outcome_to_json,
    spec_from_json,
    spec_to_json,
)
from runtime.outcome import Artifact, AttemptOutcome, ErrorCategory, JobSpec
from runtime.runners.base import ATTEMPT_SETTINGS, attempt_settings
from runtime.settings import load_settings

# any code point, lone surrogates included: the JSON is ASCII, so they survive
text = st.text(alphabet=st.characters() | st.characters(categories=["Cs"]), max_size=30)
finite = st.floats(allow_nan=False, allow_infinity=False)
setting_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    finite,
    text,
    st.lists(text, max_size=3).map(tuple),
)

specs = st.builds(
    JobSpec,
    job_id=text,
    batch_id=text,
    row_index=st.integers(min_value=0),
    row=st.dictionaries(text, text, max_size=8),
    attempt=st.integers(min_value=0, max_value=50),
    verify=st.booleans(),
    flow_hash=text,
    settings=st.dictionaries(text, setting_values, max_size=6),
    pool=st.dictionaries(text, st.dictionaries(text, text, max_size=3), max_size=2),
)
artifacts = st.builds(Artifact, kind=text, path=text, name=text)
failures = st.builds(
    AttemptOutcome,
    ok=st.just(False),
    duration_s=finite,
    category=st.sampled_from(ErrorCategory),
    message=text,
    artifacts=st.lists(artifacts, max_size=4).map(tuple),
    extracted=st.dictionaries(text, text, max_size=4),
    retry_after_s=st.none() | finite,
    pool_unusable=st.lists(text, max_size=2).map(tuple),
)
successes = st.builds(
    AttemptOutcome,
    ok=st.just(True),
    duration_s=finite,
    message=text,
    artifacts=st.lists(artifacts, max_size=4).map(tuple),
    extracted=st.dictionaries(text, text, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(spec=specs)
def test_any_spec_round_trips_through_ascii_json(spec: JobSpec) -> None:
    encoded = spec_to_json(spec)
    assert encoded.isascii()
    assert json.loads(encoded)["v"] == 3
    decoded = spec_from_json(encoded)
    assert decoded == spec
    assert spec_from_json(encoded.encode()) == spec, "bytes off the wire decode the same"
    with pytest.raises(TypeError):
        decoded.settings["x"] = 1  # type: ignore[index]  # shared by a batch's specs: read-only


@settings(max_examples=300, deadline=None)
@given(outcome=failures | successes)
def test_any_outcome_round_trips_through_ascii_json(outcome: AttemptOutcome) -> None:
    encoded = outcome_to_json(outcome)
    assert encoded.isascii()
    decoded = outcome_from_json(encoded)
    assert decoded == outcome
    assert isinstance(decoded.artifacts, tuple)


def test_the_attempt_settings_rebuild_the_settings_on_the_other_side() -> None:
    local = load_settings(
        {
            "base_url": "http://app.test",
            "isolation": "recycled",
            "trace": "always",
            "secrets": ["password", "card"],
            "job_timeout_s": 12.5,
        },
        read_env=False,
    )
    spec = JobSpec("j", "b", 0, {}, 1, settings=attempt_settings(local))
    received = spec_from_json(spec_to_json(spec))
    remote = load_settings(dict(received.settings), read_env=False)
    for name in ATTEMPT_SETTINGS:
        assert getattr(remote, name) == getattr(local, name), name


def spec_document(**changes: Any) -> str:
    document = json.loads(spec_to_json(JobSpec("j", "b", 3, {"a": "1"}, 2)))
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not ...})


def outcome_document(**changes: Any) -> str:
    document = json.loads(outcome_to_json(AttemptOutcome(ok=True, duration_s=1.0)))
    document.update(changes)
    return json.dumps(document)


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (spec_document(v=4), r"job spec: version 4 is not supported .* reads versions 1, 2, 3"),
        (spec_document(v=1), r"job spec: unknown field\(s\) 'pool' \(version 1 does not"),
        (spec_document(pool={"account": {"u": 1}}), r"'pool' must be an object of objects"),
        (spec_document(v=...), r"job spec: field 'v' is missing"),
        (spec_document(dry_run=True), r"job spec: unknown field\(s\) 'dry_run'"),
        (spec_document(row_index="3"), r"field 'row_index' must be an integer, got a string"),
        (spec_document(attempt=True), r"field 'attempt' must be an integer, got a boolean"),
        (spec_document(row={"a": 1}), r"field 'row' must be an object of strings"),
        (spec_document(settings={"x": {}}), r"field 'settings' must be an object of"),
        (spec_document(job_id=...), r"field 'job_id' is missing"),
        ("[1, 2]", r"job spec: expected a JSON object, got an array"),
        ("{not json", r"job spec: not JSON"),
    ],
)
def test_specs_version_one_cannot_honour_are_refused(document: str, error: str) -> None:
    with pytest.raises(CodecError, match=error):
        spec_from_json(document)


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (outcome_document(v=0), r"attempt outcome: version 0 is not supported"),
        (outcome_document(category="cosmic"), r"'category' must be null or one of transient"),
        (outcome_document(category="business"), r"'category' must be null exactly when 'ok'"),
        (outcome_document(ok=False), r"'category' must be null exactly when 'ok'"),
        (outcome_document(duration_s="1"), r"'duration_s' must be a number"),
        (outcome_document(artifacts=[{"kind": "trace"}]), r"artifacts\[0\]: field 'path' is"),
        (outcome_document(extra=1), r"unknown field\(s\) 'extra'"),
        (outcome_document(pool_unusable="account"), r"'pool_unusable' must be an array"),
        (outcome_document().replace("1.0", "NaN"), r"not JSON \(NaN is not a JSON number\)"),
        (b"\xff\xfe\x00", r"attempt outcome: not JSON"),
    ],
)
def test_outcomes_version_one_cannot_honour_are_refused(document: str | bytes, error: str) -> None:
    with pytest.raises(CodecError, match=error):
        outcome_from_json(document)


def test_version_one_documents_are_still_read() -> None:
    """A sender from before pools: its documents lack the pool fields, and mean no pool."""
    spec = json.loads(spec_document())
    del spec["pool"]
    old = spec_from_json(json.dumps(spec | {"v": 1}))
    assert old.pool == {}
    assert old.row == {"a": "1"}
    outcome = json.loads(outcome_document())
    del outcome["pool_unusable"], outcome["evidence_note"]
    assert outcome_from_json(json.dumps(outcome | {"v": 1})).pool_unusable == ()


def test_version_two_outcomes_are_read_without_an_evidence_note() -> None:
    """A sender from before the artifact cap: no note, and an outcome that has one is
    refused under version 2 (its sender would have bumped 'v')."""
    outcome = json.loads(outcome_document())
    note = outcome.pop("evidence_note")
    assert outcome_from_json(json.dumps(outcome | {"v": 2})).evidence_note == ""
    with pytest.raises(CodecError, match="unknown field"):
        outcome_from_json(json.dumps(outcome | {"v": 2, "evidence_note": note}))
