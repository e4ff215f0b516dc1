"""The HTML report: one self-contained file a person can open, mail or archive.

Everything in a report can be hostile (evidence, titles and paths all come from
scanned files), so the template is rendered with autoescaping on and undefined
names as errors, links are emitted only for http(s) catalog URLs, and a Content
Security Policy forbids scripts and every network fetch: the file renders the
same offline, years later, and cannot be turned into an XSS carrier.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from bastion.core.report_model import ScanReport
from bastion.core.types import Finding, Severity
from bastion.report._common import target_path, write_atomic


@dataclass(frozen=True, slots=True)
class _ControlLink:
    ref: str
    title: str
    url: str | None
    known: bool


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("bastion.report", "templates"),
        autoescape=True,  # explicit: the template's .j2 name would not match select_autoescape
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _links(refs: tuple[str, ...]) -> list[_ControlLink]:
    from bastion.core.controls import catalog

    cat = catalog()
    out: list[_ControlLink] = []
    for ref in refs:
        control = cat.resolve(ref)
        if control is None:
            out.append(_ControlLink(ref=ref, title="not in the control catalog", url=None, known=False))
            continue
        url = control.url if control.url and control.url.startswith(("https://", "http://")) else None
        out.append(_ControlLink(ref=control.ref, title=control.title, url=url, known=True))
    return out


def _framework_order() -> list[str]:
    from bastion.core.controls import catalog

    return catalog().frameworks()


def _where(f: Finding) -> str:
    loc = f.location
    parts = []
    if loc.line is not None:
        parts.append(f"line {loc.line}" + (f":{loc.column}" if loc.column is not None else ""))
    if loc.pointer:
        parts.append(loc.pointer)
    if loc.path and loc.path != f.asset_uri:
        parts.insert(0, loc.path)
    return " · ".join(parts)


def _context(report: ScanReport) -> dict[str, Any]:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in report.sorted_findings():
        groups[f.asset_uri].append(f)
    assets_by_uri = {a.uri: a for a in report.assets}
    grouped = [
        {
            "uri": uri,
            "asset": assets_by_uri.get(uri),
            "worst": max(x.severity for x in items).label,
            "rows": [
                {
                    "f": f,
                    "sev": f.severity.label,
                    "where": _where(f),
                    "controls": _links(f.controls),
                    "confidence": f"{f.confidence:.0%}",
                }
                for f in items
            ],
        }
        for uri, items in sorted(groups.items(), key=lambda kv: (-max(x.severity for x in kv[1]), kv[0]))
    ]
    # Which controls this scan produced evidence against: the governance view of the same findings.
    cited: dict[str, tuple[_ControlLink, int]] = {}
    for f in report.findings:
        for link in dict.fromkeys(_links(f.controls)):
            prev = cited.get(link.ref)
            cited[link.ref] = (link, (prev[1] if prev else 0) + 1)
    order = {fw: i for i, fw in enumerate(_framework_order())}
    controls = sorted(cited.values(), key=lambda lc: (order.get(lc[0].ref.partition(":")[0], len(order)), lc[0].ref))
    duration = None
    if report.finished_at is not None:
        duration = f"{(report.finished_at - report.started_at).total_seconds():.1f} s"
    decision = report.decision or None
    return {
        "r": report,
        "summary": report.summary,
        "severities": [s.label for s in sorted(Severity, reverse=True)],
        "groups": grouped,
        "controls": [{"link": link, "count": n} for link, n in controls],
        "assets": sorted(report.assets, key=lambda a: a.uri),
        "duration": duration,
        "decision": decision,
        "reasons": list((decision or {}).get("reasons") or []),
        "waived": list((decision or {}).get("waived") or []),
    }


def to_html(report: ScanReport) -> str:
    return _env().get_template("report.html.j2").render(**_context(report))


class HtmlRenderer:
    name = "html"
    suffix = ".html"

    def render(self, report: ScanReport, out: Path) -> Path:
        return write_atomic(target_path(out, self.suffix), to_html(report))
