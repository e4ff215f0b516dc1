from __future__ import annotations

import json
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from bastion.core.plugins import Renderer
from bastion.core.report_model import ScanReport
from bastion.core.types import Finding, Location, Severity
from bastion.report import load_json, print_summary, renderers, write_reports


def test_builtin_renderers_satisfy_protocol() -> None:
    found = renderers()
    assert {"json", "sarif", "html"} <= set(found)
    for name, r in found.items():
        assert isinstance(r, Renderer) and r.name == name and r.suffix.startswith(".")


def test_write_all_formats(tmp_path: Path, sample: ScanReport) -> None:
    out_dir = tmp_path / "out dir ü #1"  # odd characters in the folder name
    paths = write_reports(sample, out_dir)
    assert set(paths) == {"json", "sarif", "html"}
    assert paths["json"] == out_dir / "report.json"
    assert all(p.parent == out_dir and p.stat().st_size > 0 for p in paths.values())
    assert load_json(paths["json"]).scan_id == sample.scan_id
    assert json.loads(paths["sarif"].read_text("utf-8"))["version"] == "2.1.0"
    assert sorted(p.name for p in out_dir.iterdir()) == ["report.html", "report.json", "report.sarif"]


def test_unknown_format_writes_nothing(tmp_path: Path, sample: ScanReport) -> None:
    with pytest.raises(ValueError, match=r"unknown report format.*pdf.*available: html, json, sarif"):
        write_reports(sample, tmp_path / "o", formats=("json", "pdf"))
    assert not (tmp_path / "o").exists()


def test_formats_are_deduplicated_and_case_insensitive(tmp_path: Path, sample: ScanReport) -> None:
    assert list(write_reports(sample, tmp_path, formats=["JSON", "json", " sarif "])) == ["json", "sarif"]


@pytest.mark.parametrize("basename", ["", "../x", "a/b", "..", "a\\b"])
def test_bad_basename(tmp_path: Path, sample: ScanReport, basename: str) -> None:
    with pytest.raises(ValueError):
        write_reports(sample, tmp_path, basename=basename)


def test_out_dir_is_a_file(tmp_path: Path, sample: ScanReport) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotADirectoryError):
        write_reports(sample, f)


def _render(report: ScanReport, **kw: int) -> str:
    buf = StringIO()
    print_summary(report, Console(file=buf, width=140, color_system=None, force_terminal=False), **kw)
    return buf.getvalue()


def test_terminal_summary(sample: ScanReport) -> None:
    text = _render(sample)
    assert "critical 1" in text and "medium 1" in text and "low 1" in text
    assert "model.pickle.global" in text and "models/m.pkl#offset:1043" in text and "data/users.csv:12" in text
    assert "FAILED" in text and "1 critical finding" in text


def test_terminal_top_limit_and_pass(report_factory: Callable[..., ScanReport]) -> None:
    fs = [
        Finding(
            rule_id=f"r{i}",
            title=f"t{i}",
            severity=Severity.LOW,
            asset_uri="a",
            location=Location(path="a"),
            scanner="s",
        )
        for i in range(15)
    ]
    text = _render(report_factory(fs, decision={"passed": True, "threshold": "high", "reasons": []}), top=5)
    assert "and 10 more" in text and "PASSED" in text


def test_terminal_markup_and_escapes_are_inert(report_factory: Callable[..., ScanReport]) -> None:
    hostile = "[bold red]FAKE PASSED[/] \x1b[2J\x1b[31m"
    f = Finding(
        rule_id=hostile,
        title=hostile,
        severity=Severity.HIGH,
        asset_uri=hostile,
        location=Location(path=hostile),
        scanner="s",
        evidence=hostile,
    )
    buf = StringIO()
    print_summary(report_factory([f], errors=[hostile]), Console(file=buf, width=200, force_terminal=True))
    out = buf.getvalue()
    assert "\x1b[2J" not in out and "\\x1b[2J" in out
    plain = _render(report_factory([f], errors=[hostile]))
    assert "[bold red]FAKE PASSED[/]" in plain  # shown literally, not interpreted as markup


def test_terminal_empty(report_factory: Callable[..., ScanReport]) -> None:
    text = _render(report_factory([], assets=[], decision=None))
    assert "findings 0" in text and "policy" not in text
