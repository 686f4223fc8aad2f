"""What the CLI writes: streamed JSON and tables, escaped names, reports kept safe, and a
streaming parse whose memory stays a fraction of the input's size."""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from benchmarks._gen import fping_output
from cloudperf_core.cli import commands
from cloudperf_core.cli.measure import keep_report
from cloudperf_core.cli.views import JsonArrayWriter, TableWriter, render_table, safe_text
from cloudperf_core.errors import BackendUnavailableError
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
        ("a\nb", "a\\x0ab"),
        ("a\rb\x7f", "a\\x0db\\x7f"),
        ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
        ("bücher.example", "bücher.example"),
    ],
)
def test_safe_text_shows_control_characters_as_inert_escapes(text: str, shown: str) -> None:
    assert safe_text(text) == shown


def test_json_written_in_blocks_is_one_array() -> None:
    buffer = io.StringIO()
    writer = JsonArrayWriter(buffer)
    writer.write([{"target": "a", "rtts_ms": [0.5, None]}])
    writer.write([])
    writer.write([{"target": "b"}, {"target": "\x1b"}])
    writer.close()
    assert json.loads(buffer.getvalue()) == [
        {"target": "a", "rtts_ms": [0.5, None]},
        {"target": "b"},
        {"target": "\x1b"},
    ]
    assert "\x1b" not in buffer.getvalue()


def test_table_widths_fit_the_first_block_and_only_grow() -> None:
    buffer = io.StringIO()
    writer = TableWriter(buffer)
    writer.write([{"target": "a", "sent": 1}])
    writer.write([{"target": "a-much-longer-name", "sent": 1, "errors": ["x\ny"]}])
    writer.close()
    _, first, second, errors, error = buffer.getvalue().splitlines()
    assert first.split()[:2] == ["a", "1"] and second.split()[:2] == ["a-much-longer-name", "1"]
    assert len(second.split("  ")[0]) == len("a-much-longer-name")
    assert (errors, error) == ("errors:", "  a-much-longer-name: x\\x0ay")


def test_an_empty_table_is_its_header() -> None:
    assert render_table([]).split()[:3] == ["target", "sent", "recv"]


def _report() -> MeasurementReport:
    return MeasurementReport(
        report_id="r1",
        source="s",
        started_at_ms=0,
        spec=ProbeSpec(targets=("127.0.0.1",)),
        results=[TargetResult(target="127.0.0.1", sent=1, received=1, rtts_us=[50])],
    )


@pytest.fixture
def safe_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    data, temp = tmp_path / "data", tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return data / "cloudperf" / "reports" / "report-r1.json", temp / "cloudperf-report-r1.json"


def test_a_failed_store_leaves_the_report_where_ingest_can_take_it(
    safe_places: tuple[Path, Path],
) -> None:
    saved, _ = safe_places
    line = keep_report(_report(), None, BackendUnavailableError("database is locked"))
    assert line is not None and "\n" not in line
    assert "not stored (database is locked)" in line
    assert f"cloudperf ingest {saved}" in line
    assert json.loads(saved.read_bytes())["report_id"] == "r1"


def test_an_unwritable_report_out_falls_back_to_the_next_safe_place(
    tmp_path: Path, safe_places: tuple[Path, Path]
) -> None:
    saved, in_temp = safe_places
    saved.parent.parent.parent.mkdir(parents=True)
    saved.parent.parent.write_text("a file where the data directory should be")
    line = keep_report(_report(), tmp_path, None)  # a directory: cannot be written as a file
    assert line is not None and f"cannot write {tmp_path}" in line
    assert f"saved in {in_temp}" in line and in_temp.is_file()
    assert "ingest" not in line, "it was stored: nothing to ingest later"


def test_the_report_out_copy_counts_as_the_safe_place(
    tmp_path: Path, safe_places: tuple[Path, Path]
) -> None:
    out = tmp_path / "report.json"
    line = keep_report(_report(), out, BackendUnavailableError("down"))
    assert line is not None and f"cloudperf ingest {out}" in line and out.is_file()
    assert not safe_places[0].exists()


class _Sink(io.StringIO):
    """Counts what is written without keeping it."""

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def _parse_peak(path: Path) -> tuple[int, int]:
    """(peak traced bytes, characters written) of ``cloudperf parse --json`` on ``path``."""
    args = argparse.Namespace(file=str(path), json=True, strict=False)
    sink = _Sink()
    tracemalloc.start()
    try:
        assert commands.cmd_parse(args, sink, io.StringIO()) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, sink.chars


def test_streaming_parse_memory_does_not_grow_with_the_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "PARSE_BLOCK_BYTES", 128 << 10)
    sizes, peaks = [], []
    for n in (4_000, 20_000):
        text = fping_output(n, 20, "C", seed=n)
        path = tmp_path / f"{n}.out"
        path.write_text(text)
        peak, written = _parse_peak(path)
        assert written > 4 * len(text), "the whole result was written"
        sizes.append(len(text))
        peaks.append(peak)
    # Five times the input costs a small fraction of the difference (8 bytes per target
    # printed, to recognise late lines about it); parsing at once would cost ~8x of it.
    assert peaks[1] - peaks[0] < (sizes[1] - sizes[0]) / 4, (peaks, sizes)
