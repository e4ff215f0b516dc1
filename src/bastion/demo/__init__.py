"""The flagship scenario: a bank's fraud-detection project, end to end.

`run_demo` generates the sample project and walks it through every capability
Bastion has: scan, protect, rescan, sign and gate, serve behind the guarded gateway, document (AI-BOM), retire
(crypto-shred), and a final audit verification. The CLI only narrates the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.core.policy import Policy
from bastion.core.report_model import ScanReport
from bastion.core.store import Store
from bastion.demo._generate import DemoProject, generate
from bastion.scan import ProgressCallback, ScanOptions, run_scan

DEMO_PROJECT = "fraud-demo"


@dataclass(slots=True)
class DemoResult:
    project: DemoProject
    report: ScanReport
    reports: dict[str, Path]
    protect: dict[str, Any] = field(default_factory=dict)
    rescan: ScanReport | None = None
    supply: Any = None
    gateway: dict[str, Any] = field(default_factory=dict)
    bom: Path | None = None
    retire: dict[str, Any] = field(default_factory=dict)
    audit: Any = None


def run_demo(
    dest: Path,
    store: Store,
    policy: Policy,
    *,
    actor: str,
    report_dir: Path,
    progress: ProgressCallback | None = None,
) -> DemoResult:
    from bastion.demo import _steps
    from bastion.report import write_reports

    project = generate(dest)
    options = ScanOptions(project=DEMO_PROJECT, actor=actor, exclude=(".bastion", "reports", "release"))
    report = run_scan(dest, store, policy, options, progress)
    result = DemoResult(project=project, report=report, reports=write_reports(report, report_dir))
    keys = _steps.demo_keys(store, DEMO_PROJECT)
    key_id = f"transactions-{report.scan_id[:8]}"
    result.protect = _steps.protect_transactions(dest, keys, key_id)
    result.rescan = run_scan(dest / "data", store, policy, ScanOptions(project=DEMO_PROJECT, actor=actor), progress)
    result.supply = _steps.release_model(dest, store, DEMO_PROJECT)
    result.gateway = _steps.serve(store, DEMO_PROJECT)
    result.bom = _steps.write_bom(dest, report.assets)
    result.retire = _steps.retire(dest, keys, key_id, Path(result.protect["encrypted_path"]))
    result.audit = store.audit.verify()
    return result


__all__ = ["DEMO_PROJECT", "DemoResult", "generate", "run_demo"]
