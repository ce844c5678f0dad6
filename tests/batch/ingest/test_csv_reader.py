"""Encoding, dialect, headers and the streaming reader, on real files in tmp_path."""

from __future__ import annotations

import csv
import hashlib
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from batch.exceptions import ConfigurationError, FileProcessingError
from batch.ingest.csv_reader import (
    CsvInfo,
    CsvRecord,
    detect_dialect,
    inspect_csv,
    iter_chunks,
    iter_records,
    parse_csv,
)
from batch.ingest.security import check_csv_file
from batch.settings import BatchSettings

MakeSettings = Callable[..., BatchSettings]


def write(tmp_path: Path, content: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read_all(path: Path, settings: BatchSettings) -> tuple[CsvInfo, list[CsvRecord]]:
    info = inspect_csv(path, settings)
    return info, list(iter_records(info, settings))


# --- encodings ------------------------------------------------------------------


def test_utf8_file_records_size_checksum_and_codec(settings: BatchSettings, tmp_path: Path) -> None:
    content = "name,city\nZoë,Zürich\n".encode()
    info, records = read_all(write(tmp_path, content), settings)
    assert info.encoding == "utf-8"
    assert info.size_bytes == len(content)
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    assert records == [CsvRecord(0, 2, {"name": "Zoë", "city": "Zürich"})]


def test_utf8_bom_is_stripped_from_first_header(settings: BatchSettings, tmp_path: Path) -> None:
    info, records = read_all(write(tmp_path, b"\xef\xbb\xbfid,name\n1,Ann\n"), settings)
    assert info.encoding == "utf-8-sig"
    assert info.headers == ("id", "name")
    assert records[0].data == {"id": "1", "name": "Ann"}


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be-with-bom"])
def test_utf16_with_bom(settings: BatchSettings, tmp_path: Path, codec: str) -> None:
    text = "id;label\r\n1;caf\u00e9 \u20ac5\r\n"
    content = text.encode("utf-16") if codec == "utf-16" else b"\xfe\xff" + text.encode("utf-16-be")
    info, records = read_all(write(tmp_path, content), settings)
    assert info.encoding == "utf-16"
    assert info.dialect.delimiter == ";"
    assert info.headers == ("id", "label")
    assert records == [CsvRecord(0, 2, {"id": "1", "label": "café €5"})]


def test_legacy_file_falls_back_to_cp1252(settings: BatchSettings, tmp_path: Path) -> None:
    info, records = read_all(write(tmp_path, "name,price\nCrème,5 €\n".encode("cp1252")), settings)
    assert info.encoding == "cp1252"
    assert records[0].data == {"name": "Crème", "price": "5 €"}


def test_bytes_undefined_in_cp1252_fall_back_to_latin1(
    settings: BatchSettings, tmp_path: Path
) -> None:
    info, records = read_all(write(tmp_path, b"name,code\n\xe9t\xe9,\x81\n"), settings)
    assert info.encoding == "latin-1"
    assert records[0].data == {"name": "été", "code": "\x81"}


def test_invalid_utf8_deep_in_a_large_file_still_falls_back(
    settings: BatchSettings, tmp_path: Path
) -> None:
    content = b"a,b\n" + b"x,y\n" * 400_000 + "é,€\n".encode("cp1252")
    info, records = read_all(write(tmp_path, content), settings)
    assert info.encoding == "cp1252"
    assert records[-1] == CsvRecord(400_000, 400_002, {"a": "é", "b": "€"})


def test_explicit_encoding_is_used(make_settings: MakeSettings, tmp_path: Path) -> None:
    # Valid UTF-8 bytes, meant as cp1252: the explicit setting wins.
    info, records = read_all(
        write(tmp_path, "a\n\u00e9\n".encode()), make_settings(encoding="cp1252")
    )
    assert info.encoding == "cp1252"
    assert records[0].data == {"a": "Ã©"}


def test_explicit_encoding_that_fails_names_the_line(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    path = write(tmp_path, b'a,b\n1,2\n"multi\nline",x\n3,\xff\n')
    with pytest.raises(FileProcessingError, match=r"line 5: cannot be decoded as ascii") as info:
        inspect_csv(path, make_settings(encoding="ascii"))
    assert "BATCH_ENCODING" in str(info.value)


def test_corrupt_utf8_after_a_bom_names_the_line(settings: BatchSettings, tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfa,b\n1,2\n3,\xff\n")
    with pytest.raises(FileProcessingError, match=r"line 3: cannot be decoded as utf-8-sig"):
        inspect_csv(path, settings)


def test_unknown_encoding_setting(make_settings: MakeSettings, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"'encoding' = 'klingon': unknown encoding"):
        inspect_csv(write(tmp_path, "a\n1\n"), make_settings(encoding="klingon"))


# --- dialects -------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_detected(settings: BatchSettings, tmp_path: Path, delimiter: str) -> None:
    rows = [["id", "name", "note"], ["1", "Ann", "x"], ["2", "Bob", "y"]]
    content = "".join(delimiter.join(row) + "\n" for row in rows)
    info, records = read_all(write(tmp_path, content), settings)
    assert info.dialect.delimiter == delimiter
    assert info.headers == ("id", "name", "note")
    assert [r.data for r in records] == [
        {"id": "1", "name": "Ann", "note": "x"},
        {"id": "2", "name": "Bob", "note": "y"},
    ]


def test_other_delimiters_inside_values_do_not_mislead(
    settings: BatchSettings, tmp_path: Path
) -> None:
    content = "name;amount;note\nAnn;1,50;a,b,c\nBob;2,00;d|e\n"
    info, records = read_all(write(tmp_path, content), settings)
    assert info.dialect.delimiter == ";"
    assert records[0].data == {"name": "Ann", "amount": "1,50", "note": "a,b,c"}


def test_one_column_file_uses_the_fallback_delimiter(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    info, records = read_all(
        write(tmp_path, "email\na@x.org\nb@x.org\n"), make_settings(delimiter_fallback=";")
    )
    assert info.dialect.delimiter == ";"
    assert info.headers == ("email",)
    assert [r.data for r in records] == [{"email": "a@x.org"}, {"email": "b@x.org"}]


def test_detect_dialect_ignores_a_truncated_last_row() -> None:
    sample = 'a,b,c\n1,2,3\n4,5,"cut\n'
    dialect = detect_dialect(sample, ",", truncated=True)
    assert dialect.delimiter == ","
    assert dialect.lineterminator == "\n"


def test_quoted_fields_hold_delimiters_quotes_and_newlines(
    settings: BatchSettings, tmp_path: Path
) -> None:
    content = (
        'id,text,n\r\n1,"a, ""quoted"" b",x\r\n2,"line one\r\nline two\nthree",y\r\n3,plain,z\r\n'
    )
    info, records = read_all(write(tmp_path, content), settings)
    assert info.dialect.lineterminator == "\r\n"
    assert records == [
        CsvRecord(0, 2, {"id": "1", "text": 'a, "quoted" b', "n": "x"}),
        CsvRecord(1, 3, {"id": "2", "text": "line one\r\nline two\nthree", "n": "y"}),
        CsvRecord(2, 6, {"id": "3", "text": "plain", "n": "z"}),
    ]


# --- headers --------------------------------------------------------------------


def test_header_only_file_has_no_records(settings: BatchSettings, tmp_path: Path) -> None:
    info, records = read_all(write(tmp_path, "id,name\n"), settings)
    assert info.headers == ("id", "name")
    assert info.header_line_count == 1
    assert records == []


def test_whitespace_around_headers_is_stripped(settings: BatchSettings, tmp_path: Path) -> None:
    info, records = read_all(write(tmp_path, " id , full name \n1, Ann \n"), settings)
    assert info.headers == ("id", "full name")
    assert records[0].data == {"id": "1", "full name": " Ann "}


def test_header_spanning_lines_and_leading_blank_lines(
    settings: BatchSettings, tmp_path: Path
) -> None:
    info, records = read_all(write(tmp_path, '\n"first\nname",age\n1,2\n'), settings)
    assert info.headers == ("first\nname", "age")
    assert info.header_line_count == 3
    assert records == [CsvRecord(0, 4, {"first\nname": "1", "age": "2"})]


def test_duplicate_header_is_refused(settings: BatchSettings, tmp_path: Path) -> None:
    path = write(tmp_path, "id,email,name,email\n1,a,b,c\n")
    with pytest.raises(
        FileProcessingError,
        match=r"data\.csv, line 1, column 'email': duplicate header name in columns 2 and 4",
    ):
        inspect_csv(path, settings)


def test_blank_header_is_refused(settings: BatchSettings, tmp_path: Path) -> None:
    path = write(tmp_path, "id, ,name\n1,2,3\n")
    with pytest.raises(
        FileProcessingError, match=r"line 1: column 2 has a blank header name"
    ) as info:
        inspect_csv(path, settings)
    assert "BATCH_VALIDATE_HEADERS=false" in str(info.value)


def test_names_are_generated_without_header_validation(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = make_settings(validate_headers=False)
    info, records = read_all(write(tmp_path, "id,,id,id_2,id\n1,2,3,4,5\n"), settings)
    assert info.headers == ("id", "column_2", "id_2", "id_2_2", "id_3")
    assert records[0].data == {"id": "1", "column_2": "2", "id_2": "3", "id_2_2": "4", "id_3": "5"}


def test_file_of_blank_lines_has_no_header(settings: BatchSettings, tmp_path: Path) -> None:
    with pytest.raises(FileProcessingError, match="no header row"):
        inspect_csv(write(tmp_path, "\n\r\n\n"), settings)


def test_empty_file(settings: BatchSettings, tmp_path: Path) -> None:
    with pytest.raises(FileProcessingError, match=r"data\.csv: empty file"):
        inspect_csv(write(tmp_path, b""), settings)


# --- rows -----------------------------------------------------------------------

RAGGED = 'id,text,n\n1,"two\nlines",a\n2,b\n\n3,c,d,e\n4,f,g\n'


def test_ragged_row_fails_with_line_after_multiline_field(
    settings: BatchSettings, tmp_path: Path
) -> None:
    info = inspect_csv(write(tmp_path, RAGGED), settings)
    records = iter_records(info, settings)
    assert next(records).line == 2
    with pytest.raises(
        FileProcessingError, match=r"data\.csv, line 4: expected 3 fields, found 2"
    ) as error:
        next(records)
    assert "BATCH_BAD_ROWS=skip" in str(error.value)


def test_ragged_rows_are_kept_with_their_problem_when_skipping(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    _, records = read_all(write(tmp_path, RAGGED), make_settings(bad_rows="skip"))
    assert records == [
        CsvRecord(0, 2, {"id": "1", "text": "two\nlines", "n": "a"}),
        CsvRecord(1, 4, {"id": "2", "text": "b"}, "expected 3 fields, found 2"),
        CsvRecord(2, 6, {"id": "3", "text": "c", "n": "d"}, "expected 3 fields, found 4"),
        CsvRecord(3, 7, {"id": "4", "text": "f", "n": "g"}),
    ]


def test_empty_rows_are_skipped_and_not_counted(settings: BatchSettings, tmp_path: Path) -> None:
    _, records = read_all(write(tmp_path, "a,b\n\n1,2\n , \n,\n3,4\n"), settings)
    assert records == [CsvRecord(0, 3, {"a": "1", "b": "2"}), CsvRecord(1, 6, {"a": "3", "b": "4"})]


def test_empty_rows_are_kept_when_asked(make_settings: MakeSettings, tmp_path: Path) -> None:
    _, records = read_all(write(tmp_path, "a,b\n,\n1,2\n"), make_settings(skip_empty_rows=False))
    assert records == [CsvRecord(0, 2, {"a": "", "b": ""}), CsvRecord(1, 3, {"a": "1", "b": "2"})]


def test_blank_line_kept_in_a_one_column_file(make_settings: MakeSettings, tmp_path: Path) -> None:
    _, records = read_all(write(tmp_path, "a\n\nx\n"), make_settings(skip_empty_rows=False))
    assert [r.data for r in records] == [{"a": ""}, {"a": "x"}]


def test_nul_byte_names_its_line(settings: BatchSettings, tmp_path: Path) -> None:
    info = inspect_csv(write(tmp_path, b"a,b\n1,2\n3,4\x005\n"), settings)
    with pytest.raises(FileProcessingError, match=r"line 3: contains a NUL byte"):
        list(iter_records(info, settings))


def test_overlong_field_names_its_line(make_settings: MakeSettings, tmp_path: Path) -> None:
    settings = make_settings(max_field_size_kb=1)
    info = inspect_csv(write(tmp_path, "a,b\n1,2\n3," + "x" * 2000 + "\n"), settings)
    with pytest.raises(
        FileProcessingError, match=r"line 3, column 'b': a field is longer than the limit of 1 KiB"
    ):
        list(iter_records(info, settings))


def test_unclosed_quote_is_caught_by_the_field_limit(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = make_settings(max_field_size_kb=1)
    content = 'a,b\n1,"never closed\n' + "2,x\n" * 600
    info = inspect_csv(write(tmp_path, content), settings)
    with pytest.raises(
        FileProcessingError, match=r"line 2, column 'b': a field is longer"
    ) as error:
        list(iter_records(info, settings))
    assert "unclosed quote" in str(error.value)


def test_overlong_field_names_its_column(make_settings: MakeSettings, tmp_path: Path) -> None:
    settings = make_settings(max_field_size_kb=1)
    info = inspect_csv(write(tmp_path, "a,b,c\n1,2,3\n4," + "y" * 1500 + ",6\n"), settings)
    with pytest.raises(FileProcessingError, match=r"data\.csv, line 3, column 'b': a field is"):
        list(iter_records(info, settings))


def test_a_field_as_long_as_the_limit_is_read(make_settings: MakeSettings, tmp_path: Path) -> None:
    """Above the csv module's default limit (128 KiB), below ours: read, not refused."""
    value = "z" * (200 * 1024)
    _, records = read_all(write(tmp_path, f"a,b\n1,{value}\n"), make_settings())
    assert records[0].data == {"a": "1", "b": value}
    with pytest.raises(FileProcessingError, match="limit of 199 KiB"):
        read_all(write(tmp_path, f"a,b\n1,{value}\n"), make_settings(max_field_size_kb=199))


def test_an_unclosed_quote_stops_early_whatever_the_file_size(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    """The rest of a file swallowed by an unclosed quote is refused once the row holds more
    than its fields could: memory stays bounded by the limit, not by the file."""
    settings = make_settings(max_field_size_kb=1)
    path = write(tmp_path, 'a,b\n1,"never closed\n' + "2,x\n" * 200_000)
    info = inspect_csv(path, settings)
    with pytest.raises(FileProcessingError, match=r"line 2\b.*limit of 1 KiB") as error:
        list(iter_records(info, settings))
    assert "unclosed quote" in str(error.value)


def test_threads_reading_with_different_limits_keep_their_own(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    """The service reads uploads in threads: one reader's limit must not leak into another's,
    and reading must leave the process-wide ``csv.field_size_limit`` as it was."""
    wide = write(tmp_path, "a,b\n" + f"1,{'w' * 3000}\n" * 3000, name="wide.csv")
    narrow = write(tmp_path, "a,b\n" + f"1,{'n' * 500}\n" * 3000 + f"2,{'n' * 2000}\n", "n.csv")
    generous, strict = make_settings(max_field_size_kb=4), make_settings(max_field_size_kb=1)
    before = csv.field_size_limit()
    start = threading.Barrier(2)
    outcomes: dict[str, list[str]] = {"wide": [], "narrow": []}

    def read(name: str, path: Path, settings: BatchSettings) -> None:
        start.wait()
        for _ in range(5):
            try:
                outcomes[name].append(f"{len(read_all(path, settings)[1])} rows")
            except FileProcessingError as exc:
                outcomes[name].append(str(exc))

    threads = [
        threading.Thread(target=read, args=("wide", wide, generous)),
        threading.Thread(target=read, args=("narrow", narrow, strict)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes["wide"] == ["3000 rows"] * 5
    assert len(outcomes["narrow"]) == 5
    for message in outcomes["narrow"]:
        assert re.search(r"n\.csv, line 3002, column 'b': .*limit of 1 KiB", message), message
    assert csv.field_size_limit() == before


def test_large_file_is_streamed(settings: BatchSettings, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,name,email\n")
        for i in range(100_000):
            handle.write(f"{i},name {i},user{i}@example.org\n")
    info = inspect_csv(path, settings)
    count = 0
    last: CsvRecord | None = None
    for chunk in iter_chunks(iter_records(info, settings), 1000):
        assert len(chunk) == 1000
        count += len(chunk)
        last = chunk[-1]
    assert count == 100_000
    assert last == CsvRecord(
        99_999, 100_001, {"id": "99999", "name": "name 99999", "email": "user99999@example.org"}
    )


def test_iter_chunks_keeps_the_remainder() -> None:
    assert list(iter_chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(iter_chunks([], 3)) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(iter_chunks(range(3), 0))


def test_parse_csv_checks_and_reads_everything(settings: BatchSettings, tmp_path: Path) -> None:
    write(tmp_path, "a;b\n1;2\n3;4\n")
    assert parse_csv("data.csv", settings) == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_parse_csv_fails_on_bad_rows_even_when_skipping(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    write(tmp_path, "a,b\n1,2\n3\n")
    with pytest.raises(FileProcessingError, match="line 3: expected 2 fields, found 1"):
        parse_csv("data.csv", make_settings(bad_rows="skip"))


def test_explicit_utf16_without_a_bom_is_a_clear_error(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    """Python's UTF-16 decoder raises a bare UnicodeError here (found by fuzzing)."""
    path = tmp_path / "input.csv"
    path.write_bytes(b"\x07 ")
    settings = make_settings(encoding="utf-16")
    with pytest.raises(FileProcessingError, match=r"cannot be decoded as utf-16.*BOM"):
        inspect_csv(check_csv_file(path, settings), settings)
