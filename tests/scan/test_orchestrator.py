"""The scan service: fail-closed handling of crashing and slow scanners, incremental rescans."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from bastion.core.plugins import ScanTarget
from bastion.core.policy import load_policy
from bastion.core.store import Store
from bastion.core.types import Finding, Location, Rule, Severity
from bastion.scan import ScanOptions, run_scan
from bastion.scan import _orchestrator as orchestrator

LEAK = Rule(id="test.leak", title="marker found", severity=Severity.HIGH, controls=("owasp-llm:LLM02",))


class MarkerScanner:
    """Flags files containing the word LEAK; crashes on BOOM; hangs on SLOW."""

    name = "marker"
    rules = {LEAK.id: LEAK}

    def applies(self, target: ScanTarget) -> bool:
        return target.path.suffix == ".txt"

    def scan(self, target: ScanTarget) -> Iterable[Finding]:
        text = target.path.read_text()
        if "BOOM" in text:
            raise RuntimeError("parser exploded")
        if "SLOW" in text:
            time.sleep(3600)  # only the per-file budget can end this: the test finishing proves it was cut
        if "LEAK" in text:
            yield LEAK.finding(asset_uri=target.uri, location=Location(path=target.relpath, line=1), scanner=self.name)


@pytest.fixture
def marker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    scanner = MarkerScanner()
    monkeypatch.setattr(orchestrator, "scanners", lambda names=None: [scanner])
    yield


def _options(**kw: object) -> ScanOptions:
    base: dict[str, object] = {"project": "p", "actor": "tester", "workers": 1, "timeout_per_file": 2.0}
    base.update(kw)
    return ScanOptions(**base)  # type: ignore[arg-type]


def test_findings_crash_and_timeout_are_all_reported(tmp_path: Path, store: Store, marker: None) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.txt").write_text("LEAK here")
    (root / "b.txt").write_text("BOOM")
    (root / "c.txt").write_text("SLOW")
    (root / "d.txt").write_text("clean")
    report = run_scan(root, store, load_policy(None), _options())
    by_rule = {(f.rule_id, f.asset_uri) for f in report.findings}
    assert ("test.leak", "a.txt") in by_rule
    assert ("scan.error", "b.txt") in by_rule
    assert ("scan.timeout", "c.txt") in by_rule
    assert not any(f.asset_uri == "d.txt" for f in report.findings)
    assert report.decision is not None and not report.decision["passed"]
    stored = store.list_findings("p", scan_id=report.scan_id)
    assert {f.fingerprint for f in stored} == {f.fingerprint for f in report.findings}
    evidence = next(f.evidence for f in report.findings if f.rule_id == "scan.error")
    assert "RuntimeError" in evidence
    assert store.audit.verify().ok


def test_missing_root_is_a_usage_error(tmp_path: Path, store: Store) -> None:
    with pytest.raises(FileNotFoundError):
        run_scan(tmp_path / "missing", store, load_policy(None), _options())
    assert store.list_scans("p") == []


def test_rescan_is_incremental_and_marks_vanished(tmp_path: Path, store: Store, marker: None) -> None:
    import numpy as np

    root = tmp_path / "tree"
    root.mkdir()
    np.save(root / "weights.npy", np.arange(10))
    np.save(root / "other.npy", np.arange(5))
    first = run_scan(root, store, load_policy(None), _options())
    assert {a.uri for a in first.assets} == {"weights.npy", "other.npy"}
    (root / "other.npy").unlink()
    np.save(root / "weights.npy", np.arange(20))
    second = run_scan(root, store, load_policy(None), _options())
    assert {a.uri for a in second.assets} == {"weights.npy"}
    assert store.get_asset("p", "weights.npy").digest != next(a.digest for a in first.assets if a.uri == "weights.npy")
    assert {a.uri for a in store.list_assets("p")} == {"weights.npy"}
    assert {a.uri for a in store.list_assets("p", include_vanished=True)} == {"weights.npy", "other.npy"}


def test_unreadable_and_looping_paths_become_findings(tmp_path: Path, store: Store, marker: None) -> None:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "loop").symlink_to(root / "sub", target_is_directory=True)
    (root / "dangling").symlink_to(root / "nowhere")
    report = run_scan(root, store, load_policy(None), _options(follow_symlinks=True))
    assert any(f.rule_id == "scan.unreadable" for f in report.findings)


B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def test_process_pool_path_with_the_registered_scanners(tmp_path: Path, store: Store) -> None:
    """Above the inline limit, scanners run in spawned worker processes; results must match inline."""
    root = tmp_path / "many"
    root.mkdir()
    for i in range(40):
        (root / f"cfg{i:02d}.env").write_text(
            # key ids are base32 ([A-Z2-7]): the file number is spelled in that alphabet
            f"AWS_ACCESS_KEY_ID=AKIA{'ABCDEFGHJKLMNP'[i % 14]}QRSTUVWXYZ234{B32[i // 32]}{B32[i % 32]}\n"
        )
    pooled = run_scan(root, store, load_policy(None), _options(workers=2, timeout_per_file=30))
    inline = run_scan(root, store, load_policy(None), _options(workers=1, timeout_per_file=30))
    assert pooled.stats["files_scanned"] == 40
    key = lambda r: sorted((f.rule_id, f.asset_uri, f.fingerprint) for f in r.findings)  # noqa: E731
    assert key(pooled) == key(inline)
    leaked = {f.asset_uri for f in pooled.findings if f.rule_id.startswith("data.secret")}
    assert len(leaked) == 40
