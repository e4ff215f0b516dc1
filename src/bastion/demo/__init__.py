"""The flagship scenario: a bank's fraud-detection project, end to end.

`run_demo` generates the sample project, then walks it through each capability
Bastion has, printing a short story as it goes. Each later capability adds its
step here, so the demo always shows everything that works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def run_demo(
    dest: Path,
    store: Store,
    policy: Policy,
    *,
    actor: str,
    report_dir: Path,
    progress: ProgressCallback | None = None,
) -> DemoResult:
    from bastion.report import write_reports

    project = generate(dest)
    report = run_scan(
        dest,
        store,
        policy,
        ScanOptions(project=DEMO_PROJECT, actor=actor, exclude=(".bastion",)),
        progress,
    )
    paths = write_reports(report, report_dir)
    return DemoResult(project=project, report=report, reports=paths)


__all__ = ["DEMO_PROJECT", "DemoResult", "generate", "run_demo"]
