"""Walk, identify, fan out to scanners, record, decide, report.

Scanners run in worker processes so that one slow or crashing scanner cannot
stall or take down the whole scan: each file gets a time budget enforced inside
its worker (SIGALRM), and anything a scanner raises becomes a `scan.error`
finding instead of a hole in the results.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bastion import __version__
from bastion.core.plugins import Scanner, ScanTarget, scanners
from bastion.core.policy import Policy
from bastion.core.report_model import ScanReport
from bastion.core.store import Store
from bastion.core.types import Asset, Finding, Location, utcnow
from bastion.discover import WalkItem, WalkProblem, enrich, identify_entries, record, sprawl_findings, walk
from bastion.scan._rules import SCAN_ERROR, SCAN_TIMEOUT, SCAN_TOO_LARGE, SCAN_UNREADABLE

ORCHESTRATOR = "bastion.scan"
# Below this many targets a process pool costs more than it saves.
_INLINE_LIMIT = 24


@dataclass(slots=True)
class ScanOptions:
    project: str = "default"
    actor: str = "unknown"
    workers: int = 0
    timeout_per_file: float = 60.0
    max_file_size: int = 4 * 1024**3
    exclude: Sequence[str] = ()
    follow_symlinks: bool = False
    scanner_names: Sequence[str] | None = None
    owners: Mapping[str, str] = field(default_factory=dict)


ProgressCallback = Callable[[str, int, int], None]
"""(phase, done, total): lets a surface draw progress without the service knowing about Rich."""


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout


def _scan_target(target: ScanTarget, names: Sequence[str], timeout: float) -> list[Finding]:
    """Run the named scanners on one target; each gets `timeout` seconds (enforced in the main thread)."""
    results: list[Finding] = []
    use_alarm = hasattr(signal, "setitimer") and _in_main_thread()
    previous = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    try:
        for scanner in scanners(names):
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                results.extend(scanner.scan(target))
            except _Timeout:
                results.append(
                    SCAN_TIMEOUT.finding(
                        asset_uri=target.uri,
                        location=Location(path=target.relpath),
                        scanner=ORCHESTRATOR,
                        evidence=f"scanner {scanner.name!r} exceeded {timeout:g}s",
                    )
                )
            except Exception as exc:  # fail closed: a crash is a finding, not a pass
                results.append(
                    SCAN_ERROR.finding(
                        asset_uri=target.uri,
                        location=Location(path=target.relpath),
                        scanner=ORCHESTRATOR,
                        evidence=f"scanner {scanner.name!r} raised {type(exc).__name__}",
                    )
                )
            finally:
                if use_alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        if use_alarm and previous is not None:
            signal.signal(signal.SIGALRM, previous)
    return results


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _worker_scan(job: tuple[ScanTarget, tuple[str, ...], float]) -> list[Finding]:
    target, names, timeout = job
    return _scan_target(target, names, timeout)


def _problem_finding(problem: WalkProblem) -> Finding:
    return SCAN_UNREADABLE.finding(
        asset_uri=problem.relpath,
        location=Location(path=problem.relpath),
        scanner=ORCHESTRATOR,
        evidence=problem.reason,
    )


def run_scan(
    root: Path,
    store: Store,
    policy: Policy,
    options: ScanOptions,
    progress: ProgressCallback | None = None,
) -> ScanReport:
    """Scan `root` (a file or a folder), record everything in `store`, decide with `policy`.

    Raises `FileNotFoundError` for a missing root: that is a usage error, not a finding.
    """
    if not root.exists() and not root.is_symlink():
        raise FileNotFoundError(2, "no such file or directory", str(root))
    root = root.resolve() if root.exists() else root
    report = progress or (lambda phase, done, total: None)
    started = utcnow()
    t0 = time.perf_counter()
    active = scanners(options.scanner_names)
    scan_id = store.start_scan(options.project, str(root), actor=options.actor)
    try:
        entries = _collect(root, options, report)
        found = identify_entries(entries, root, project=options.project, store=store)
        items = [e for e in entries if isinstance(e, WalkItem)]
        findings = [_problem_finding(p) for p in found.problems]
        assets = {a.uri: a for a in found.assets}
        jobs, oversized = _plan(items, assets, active, options)
        findings.extend(oversized)
        findings.extend(_run_jobs(jobs, options, report))
        # Enriched once, from this scan's own findings, before the assets are recorded; the
        # sprawl rules get no store, so they neither re-enrich from older scans' findings
        # (stale, and never recorded) nor query the store per asset.
        enrich(found.assets, root, owners=options.owners, findings=findings)
        record(store, found, project=options.project, actor=options.actor)
        findings.extend(sprawl_findings(options.project, found.assets, root=root, owners=options.owners))
        findings.sort(key=lambda f: (-f.severity, f.asset_uri, f.rule_id, f.location.line or 0))
        store.add_findings(options.project, scan_id, findings, actor=options.actor)
        decision = policy.evaluate(findings, found.assets).to_dict()
    except BaseException:
        store.finish_scan(scan_id, status="failed", summary={}, decision=None, actor=options.actor)
        raise
    stats = {
        "files_seen": len(items),
        "files_scanned": len(jobs),
        "seconds": round(time.perf_counter() - t0, 3),
        "scanners": [s.name for s in active],
    }
    store.finish_scan(
        scan_id,
        status="completed",
        summary={"findings": len(findings), "assets": len(assets), **stats},
        decision=decision,
        actor=options.actor,
    )
    return ScanReport(
        scan_id=scan_id,
        project=options.project,
        root=str(root),
        started_at=started,
        finished_at=utcnow(),
        tool_version=__version__,
        assets=found.assets,
        findings=findings,
        decision=decision,
        stats=stats,
    )


def _collect(root: Path, options: ScanOptions, report: ProgressCallback) -> list[WalkItem | WalkProblem]:
    entries: list[WalkItem | WalkProblem] = []
    for entry in walk(root, exclude=options.exclude, follow_symlinks=options.follow_symlinks):
        entries.append(entry)
        if len(entries) % 500 == 0:
            report("walk", len(entries), 0)
    report("walk", len(entries), len(entries))
    return entries


def _plan(
    items: list[WalkItem],
    assets: dict[str, Asset],
    active: list[Scanner],
    options: ScanOptions,
) -> tuple[list[tuple[ScanTarget, tuple[str, ...], float]], list[Finding]]:
    jobs: list[tuple[ScanTarget, tuple[str, ...], float]] = []
    oversized: list[Finding] = []
    for item in items:
        target = ScanTarget(
            path=item.path,
            relpath=item.relpath,
            size=item.size,
            head=item.head,
            asset=assets.get(item.relpath),
            project=options.project,
            options={"is_dir": item.is_dir},
        )
        names = tuple(s.name for s in active if _applies(s, target))
        if not names:
            continue
        if item.size > options.max_file_size:
            oversized.append(
                SCAN_TOO_LARGE.finding(
                    asset_uri=item.relpath,
                    location=Location(path=item.relpath),
                    scanner=ORCHESTRATOR,
                    evidence=f"{item.size} bytes > limit {options.max_file_size}",
                )
            )
            continue
        jobs.append((target, names, options.timeout_per_file))
    return jobs, oversized


def _applies(scanner: Scanner, target: ScanTarget) -> bool:
    try:
        return scanner.applies(target)
    except Exception:
        return True  # fail closed: let scan() run and report what it can


def _run_jobs(
    jobs: list[tuple[ScanTarget, tuple[str, ...], float]], options: ScanOptions, report: ProgressCallback
) -> Iterator[Finding]:
    total = len(jobs)
    report("scan", 0, total)
    workers = options.workers or os.cpu_count() or 1
    if workers <= 1 or total <= _INLINE_LIMIT:
        for done, job in enumerate(jobs, 1):
            yield from _worker_scan(job)
            report("scan", done, total)
        return
    context = multiprocessing.get_context("spawn")
    chunk = max(1, min(32, total // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for done, result in enumerate(pool.map(_worker_scan, jobs, chunksize=chunk), 1):
            yield from result
            report("scan", done, total)
