#!/usr/bin/env python3
"""Time report rendering on a synthetic large scan.

    .venv/bin/python benchmarks/bench_reports.py [N_FINDINGS]

No external anchor renders our model, so this tracks our own numbers across
changes: catalog load, each renderer in memory, and `write_reports` end to end.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bastion.core.controls import catalog
from bastion.core.report_model import ScanReport
from bastion.core.types import Asset, AssetKind, Finding, Location, Severity
from bastion.report import to_html, to_json, to_sarif, write_reports


def main(n: int) -> None:
    t = time.perf_counter()
    catalog.cache_clear()
    catalog()
    print(f"catalog load: {(time.perf_counter() - t) * 1000:.1f} ms ({len(catalog())} controls)")
    findings = [
        Finding(
            rule_id=f"rule.{i % 40}",
            title=f"Finding {i}",
            severity=Severity(i % 5),
            asset_uri=f"dir{i % 200}/file {i % 500}.csv",
            location=Location(path=f"dir{i % 200}/file {i % 500}.csv", line=i % 900 + 1, column=3),
            scanner=f"s{i % 6}",
            evidence="x***y",
            controls=("owasp-llm:LLM02", "gdpr:Art.5", "nist-ai-rmf:MS-2.10"),
        )
        for i in range(n)
    ]
    now = datetime.now(UTC)
    assets = [Asset(uri=f"dir{i}/a", kind=AssetKind.DATASET, format="csv") for i in range(500)]
    report = ScanReport("bench", "bench", "/root", now, now, "0.1.0", assets, findings)
    for name, fn in (("json", to_json), ("sarif", lambda r: to_sarif(r, {})), ("html", to_html)):
        t = time.perf_counter()
        fn(report)
        print(f"{name}: {time.perf_counter() - t:.2f} s for {n} findings")
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        out = write_reports(report, Path(d))
        sizes = ", ".join(f"{k} {p.stat().st_size / 1e6:.1f} MB" for k, p in out.items())
        print(f"write_reports (json+sarif+html): {time.perf_counter() - t:.2f} s; {sizes}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
