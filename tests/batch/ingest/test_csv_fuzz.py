"""Fuzzing the CSV gate and reader: whatever bytes a user hands us, the result is rows or
one of our errors with a message, never a stray ``UnicodeDecodeError``, ``csv.Error``,
``IndexError`` or a crash.

The property covers ``check_csv_file`` -> ``inspect_csv`` -> ``iter_records`` (under
random settings) and ``parse_csv``, on random bytes, random text in random encodings
(BOMs, NULs, stray quotes, mixed line ends) and CSV-shaped tables with random
delimiters and quoting.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import _fault_runner as runner
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch.exceptions import ConfigurationError, FileProcessingError, SecurityError
from batch.ingest.csv_reader import inspect_csv, iter_records, parse_csv
from batch.ingest.security import check_csv_file
from batch.settings import load_settings

OUR_ERRORS = (FileProcessingError, SecurityError, ConfigurationError)
DEFAULT_EXAMPLES = 300
SLOW_EXAMPLES = 3000


# Characters that matter to a CSV reader, plus ordinary and far-away ones.
CSV_CHARS = st.sampled_from(
    [",", ";", "\t", "|", '"', '""', "\r", "\n", "\r\n", "\x00", "\ufeff", " ", "'", "\\"]
)
ANY_CHARS = st.characters(codec="utf-8", exclude_categories=["Cs"])
TEXT = st.lists(st.one_of(CSV_CHARS, ANY_CHARS, st.text(max_size=8)), max_size=200).map("".join)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1"]
BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]


@st.composite
def encoded_text(draw: st.DrawFn) -> bytes:
    """Random text in a random encoding (unencodable characters become '?'), maybe a BOM."""
    encoding = draw(st.sampled_from(ENCODINGS))
    return draw(st.sampled_from(BOMS)) + draw(TEXT).encode(encoding, errors="replace")


@st.composite
def tables(draw: st.DrawFn) -> bytes:
    """CSV-shaped input: ragged rows, random delimiter and quoting, stray quotes."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    terminator = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    field = st.one_of(
        st.text(max_size=6),
        st.text(max_size=6).map(lambda v: '"' + v.replace('"', '""') + '"'),
        st.text(max_size=6).map(lambda v: f'"{v}'),  # unclosed quote
        st.text(max_size=6).map(lambda v: f'{v}"{v}'),  # stray quote mid-field
    )
    rows = draw(st.lists(st.lists(field, min_size=0, max_size=5), min_size=0, max_size=8))
    text = terminator.join(delimiter.join(row) for row in rows)
    encoding = draw(st.sampled_from(ENCODINGS))
    return text.encode(encoding, errors="replace")


INPUTS = st.one_of(st.binary(max_size=3000), encoded_text(), tables())
OPTIONS = st.fixed_dictionaries(
    {
        "encoding": st.sampled_from(["utf-8", "utf-8", "cp1252", "latin-1", "utf-16", "ascii"]),
        "validate_headers": st.booleans(),
        "skip_empty_rows": st.booleans(),
        "bad_rows": st.sampled_from(["fail", "skip"]),
        "max_field_size_kb": st.sampled_from([1, 1024]),
        "delimiter_fallback": st.sampled_from([",", ";", "\t", "|"]),
    }
)


def read_everything(data: bytes, options: dict[str, Any]) -> int:
    """Every reading entry point on one file; returns the rows read."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.csv"
        path.write_bytes(data)
        config = load_settings({"base_dir": folder, **options}, read_env=False)
        try:
            info = inspect_csv(check_csv_file("input.csv", config), config)
            records = list(iter_records(info, config))
            for number, record in enumerate(records):
                assert record.row_index == number
                assert record.line >= 1
                if record.problem is None:
                    assert record.data is not None
                    assert tuple(record.data) == info.headers
            parse_csv("input.csv", config)
        except OUR_ERRORS as exc:
            message = str(exc).strip()
        else:
            return len(records)
    assert message, "one of our errors without a message"
    return 0


def run_fuzz(examples: int, request: pytest.FixtureRequest) -> None:
    counted = {"cases": 0, "read": 0, "refused": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=INPUTS, options=OPTIONS)
    def reader_returns_rows_or_our_error(data: bytes, options: dict[str, Any]) -> None:
        counted["cases"] += 1
        rows = read_everything(data, options)
        counted["read" if rows else "refused"] += 1

    reader_returns_rows_or_our_error()
    runner.report_line(
        request,
        f"csv fuzz: {counted['cases']} cases ({counted['read']} read rows, "
        f"{counted['refused']} refused or empty)",
    )
    assert counted["cases"] >= examples, "hypothesis ran fewer cases than asked"


def test_reader_returns_rows_or_our_error(request: pytest.FixtureRequest) -> None:
    run_fuzz(DEFAULT_EXAMPLES, request)


@pytest.mark.slow
def test_reader_returns_rows_or_our_error_at_length(request: pytest.FixtureRequest) -> None:
    run_fuzz(SLOW_EXAMPLES, request)
