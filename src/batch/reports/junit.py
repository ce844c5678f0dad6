"""``junit.xml``: one testsuite per batch, one testcase per row, for CI test tabs.

Keeps to the Surefire/Jenkins schema (testsuites > testsuite > testcase) that
Jenkins, GitLab, GitHub test reporters and Azure read. Rows stream out one
testcase at a time, so memory does not grow with the batch.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import TextIO
from xml.sax.saxutils import quoteattr

from batch.models import JobStatus
from batch.reports.files import atomic_text
from batch.reports.rows import AttemptView, RowSink, RowView
from batch.reports.summary import BatchSummary

__all__ = ["clean_xml_text", "junit_counts", "junit_report"]

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MESSAGE_LENGTH = 500
_NOT_RUN = frozenset({JobStatus.PENDING, JobStatus.RUNNING, JobStatus.CANCELLED})


def clean_xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (control characters, surrogates)."""
    return _ILLEGAL_XML.sub("", text)


def junit_counts(summary: BatchSummary) -> dict[str, int]:
    """Testsuite counts: ``needs_review`` rows are failures (someone must act), rows that
    never ran (pending, running, cancelled) are skipped like ``skipped`` ones."""
    counts = summary.counts
    return {
        "tests": summary.total,
        "failures": counts["failed"] + counts["needs_review"],
        "errors": 0,
        "skipped": sum(counts[s.value] for s in (*_NOT_RUN, JobStatus.SKIPPED)),
    }


def _attachments(artifacts: Iterable[str], root: Path) -> list[str]:
    return [f"[[ATTACHMENT|{(root / path).as_posix()}]]" for path in artifacts]


def _attempt_text(attempt: AttemptView) -> str:
    outcome = "passed" if attempt.ok else f"failed ({attempt.category or 'unknown'})"
    text = f"attempt {attempt.number}: {outcome} in {attempt.duration_s:.3f} s"
    if attempt.host:
        text += f" on {attempt.host}"
    return f"{text}: {attempt.message}" if attempt.message else text


def _testcase(row: RowView, classname: str, root: Path) -> ET.Element:
    case = ET.Element(
        "testcase",
        {"classname": classname, "name": row.label, "time": f"{row.duration_s:.3f}"},
    )
    message = row.message[:_MESSAGE_LENGTH]
    history = "\n".join(_attempt_text(a) for a in row.attempts)
    if row.status is JobStatus.FAILED:
        failure = ET.SubElement(
            case, "failure", {"type": row.category or "unknown", "message": message}
        )
        failure.text = f"{row.message}\n\nCSV line {row.line}\n{history}"
    elif row.status is JobStatus.NEEDS_REVIEW:
        ET.SubElement(
            case,
            "failure",
            {
                "type": "needs_review",
                "message": "interrupted after its point of no return: check the application "
                "and settle the row before re-running it",
            },
        ).text = history
    elif row.status is JobStatus.SKIPPED:
        ET.SubElement(case, "skipped", {"message": message or "skipped"})
    elif row.status in _NOT_RUN:
        ET.SubElement(case, "skipped", {"message": f"not run ({row.status.value})"})
    elif row.flaky:
        for attempt in row.attempts:
            if attempt.ok:
                continue
            flaky = ET.SubElement(
                case,
                "flakyFailure",
                {
                    "type": attempt.category or "unknown",
                    "message": attempt.message[:_MESSAGE_LENGTH],
                },
            )
            out = [_attempt_text(attempt), *_attachments((a.path for a in attempt.artifacts), root)]
            ET.SubElement(flaky, "system-out").text = "\n".join(out)
    lines = [f"{column}: {value}" for column, value in row.values.items()]
    lines += _attachments((a.path for a in row.artifacts), root)
    ET.SubElement(case, "system-out").text = "\n".join(lines)
    for element in case.iter():
        element.text = clean_xml_text(element.text) if element.text else element.text
        for key, value in element.attrib.items():
            element.set(key, clean_xml_text(value))
    return case


def _open_tag(out: TextIO, indent: str, tag: str, attributes: dict[str, str]) -> None:
    attrs = " ".join(f"{k}={quoteattr(clean_xml_text(v))}" for k, v in attributes.items())
    out.write(f"{indent}<{tag} {attrs}>\n")


@contextmanager
def junit_report(summary: BatchSummary, path: Path, *, attachment_root: Path) -> Iterator[RowSink]:
    """Write the JUnit XML; each row sent to the yielded sink becomes a testcase.
    Attachment lines name ``attachment_root / <artifact path>`` (Jenkins'
    junit-attachments and GitLab read ``[[ATTACHMENT|path]]`` lines)."""
    name = summary.flow_name or summary.batch_id
    totals = {k: str(v) for k, v in junit_counts(summary).items()}
    seconds = f"{summary.wall_time_s:.3f}"
    started = summary.started_at or summary.created_at
    if started.tzinfo is not None:
        started = started.astimezone(UTC)
    stamp = started.strftime("%Y-%m-%dT%H:%M:%S")  # the schema's xs:dateTime, no zone: UTC
    with atomic_text(path) as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        _open_tag(out, "", "testsuites", {"name": name, **totals, "time": seconds})
        _open_tag(
            out, "  ", "testsuite", {"name": name, **totals, "time": seconds, "timestamp": stamp}
        )
        properties = ET.Element("properties")
        for key, value in (
            ("batch_id", summary.batch_id),
            ("csv_path", summary.csv_path),
            ("flow_ref", summary.flow_ref),
        ):
            ET.SubElement(properties, "property", {"name": key, "value": clean_xml_text(value)})
        ET.indent(properties, space="  ", level=2)
        out.write("    " + ET.tostring(properties, encoding="unicode") + "\n")

        def add(row: RowView) -> None:
            case = _testcase(row, name, attachment_root)
            ET.indent(case, space="  ", level=2)
            out.write("    " + ET.tostring(case, encoding="unicode") + "\n")

        yield add
        out.write("  </testsuite>\n</testsuites>\n")
