"""`cloudperf report --since/--group-by` and `cloudperf ingest` of saved reports, run in-process
on a SQLite file (no fping needed: the reports are written as `measure --report-out` would)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cloudperf_core import service
from cloudperf_core.cli.main import main
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult

NOW_MS = time.time_ns() // 1_000_000


def _save(tmp_path: Path, report_id: str, source: str, ago_s: int, rtts: dict[str, int]) -> Path:
    started_ms = NOW_MS - ago_s * 1000
    report = MeasurementReport(
        report_id=report_id,
        source=source,
        started_at_ms=started_ms,
        finished_at_ms=started_ms + 1000,
        spec=ProbeSpec(targets=tuple(rtts), count=2),
        results=[
            TargetResult(target=t, sent=2, received=1, rtts_us=[rtt, None])
            for t, rtt in rtts.items()
        ],
    )
    path = tmp_path / f"{report_id}.json"
    path.write_bytes(service.encode_report(report))
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    saved = [
        _save(tmp_path, "old", "fra", 3 * 3600, {"192.0.2.1": 9000}),
        _save(tmp_path, "new-fra", "fra", 600, {"192.0.2.1": 1000, "192.0.2.2": 2000}),
        _save(tmp_path, "new-ams", "ams", 300, {"192.0.2.1": 3000}),
    ]
    for path in saved:
        code, out, err = _cli(capsys, "ingest", str(path), "--store", url)
        assert code == 0, err
        assert "ingested report" in out
    return url


def _rows(capsys: pytest.CaptureFixture[str], store: str, *args: str) -> list[dict[str, object]]:
    code, out, err = _cli(capsys, "report", "--store", store, "--json", *args)
    assert code == 0, err
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def test_since_keeps_only_recent_windows(capsys: pytest.CaptureFixture[str], store: str) -> None:
    everything = _rows(capsys, store, "--group-by", "overall")
    recent = _rows(capsys, store, "--group-by", "overall", "--since", "1h")
    assert [r["sent"] for r in everything] == [8]
    assert [r["sent"] for r in recent] == [6]  # the report from three hours ago is left out
    assert _rows(capsys, store, "--since", "2m") == []


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("target", [(None, "192.0.2.1", 6), (None, "192.0.2.2", 2)]),
        ("source", [("ams", None, 2), ("fra", None, 6)]),
        ("pair", [("ams", "192.0.2.1", 2), ("fra", "192.0.2.1", 4), ("fra", "192.0.2.2", 2)]),
        ("overall", [(None, None, 8)]),
    ],
)
def test_group_by_each_grouping(
    capsys: pytest.CaptureFixture[str],
    store: str,
    group_by: str,
    expected: list[tuple[str | None, str | None, int]],
) -> None:
    rows = _rows(capsys, store, "--group-by", group_by)
    assert [(r.get("source"), r.get("target"), r["sent"]) for r in rows] == expected


def test_group_by_source_prints_a_table_by_source(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    code, out, _ = _cli(capsys, "report", "--store", store, "--group-by", "source")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["ams", "fra"]


def test_filters_and_an_empty_answer(capsys: pytest.CaptureFixture[str], store: str) -> None:
    rows = _rows(capsys, store, "--group-by", "pair", "--source", "fra", "--target", "192.0.2.2")
    assert [(r["source"], r["target"]) for r in rows] == [("fra", "192.0.2.2")]
    code, out, err = _cli(capsys, "report", "--store", store, "--source", "nowhere")
    assert (code, out) == (0, "")
    assert "no measurements" in err


def test_a_reused_report_id_is_refused_not_taken_for_a_duplicate(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path
) -> None:
    (tmp_path / "again").mkdir()
    clash = _save(tmp_path / "again", "new-ams", "ams", 300, {"192.0.2.1": 4000})
    code, _, err = _cli(capsys, "ingest", str(clash), "--store", store)
    assert code == 1
    assert "ingested before with different content" in err
    assert [r["sent"] for r in _rows(capsys, store, "--group-by", "overall")] == [8]
