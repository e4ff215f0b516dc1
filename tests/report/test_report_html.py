from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.report_model import ScanReport
from bastion.core.types import Asset, AssetKind, Finding, Location, Severity
from bastion.report import HtmlRenderer, to_html

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    c.close()
    return c


def _hostile_report(factory: Callable[..., ScanReport]) -> ScanReport:
    f = Finding(
        rule_id=HOSTILE,
        title=HOSTILE,
        severity=Severity.HIGH,
        asset_uri=HOSTILE,
        location=Location(path=HOSTILE, line=1, pointer=HOSTILE),
        scanner=HOSTILE,
        evidence=HOSTILE,
        remediation=HOSTILE,
        controls=(HOSTILE, "owasp-llm:LLM01"),
    )
    return factory(
        [f],
        project=HOSTILE,
        scan_id=HOSTILE,
        root=HOSTILE,
        errors=[HOSTILE],
        assets=[Asset(uri=HOSTILE, kind=AssetKind.OTHER, format=HOSTILE, owner=HOSTILE, classification=[HOSTILE])],
        decision={"passed": False, "threshold": HOSTILE, "reasons": [HOSTILE]},
    )


def test_hostile_strings_are_escaped_everywhere(report_factory: Callable[..., ScanReport]) -> None:
    html = to_html(_hostile_report(report_factory))
    parsed = _parse(html)
    tags = [t for t, _ in parsed.tags]
    assert "script" not in tags and "img" not in tags
    assert "<script" not in html.lower()
    assert not any(k.startswith("on") for _, attrs in parsed.tags for k in attrs)
    # The hostile text is still shown, as text: escaped, not dropped.
    assert sum(HOSTILE in chunk for chunk in parsed.text) >= 8


def test_self_contained_no_external_fetches(sample: ScanReport) -> None:
    html = to_html(sample)
    parsed = _parse(html)
    tags = {t for t, _ in parsed.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    assert not any("src" in attrs for _, attrs in parsed.tags)
    csp = next(a for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in (csp["content"] or "")
    assert not re.search(r"url\(|@import", html)
    # Only anchors link out, and only to catalog URLs over http(s).
    hrefs = [a["href"] for t, a in parsed.tags if t == "a" and a.get("href")]
    assert hrefs and all((h or "").startswith("https://") for h in hrefs)


def test_content_summary_decision_and_grouping(sample: ScanReport) -> None:
    html = to_html(sample)
    assert "FAILED" in html and "1 critical finding" in html
    assert 'class="card critical"><div class="n">1<' in html
    assert 'class="card medium"><div class="n">1<' in html
    # Grouped by asset, worst asset first.
    first = html.index('<summary><span class="badge critical">critical</span> models/m.pkl')
    assert first < html.index('<summary><span class="badge medium">medium</span> data/users.csv')
    # Control refs are linked to their catalog URLs, aliases shown canonical.
    assert (
        'href="https://owasp.org/www-project-machine-learning-security-top-10/docs/ML06_2023-AI_Supply_Chain_Attacks"'
        in html
    )
    assert ">nist-ai-rmf:GOVERN-6.1<" in html
    assert "line 12:7" in html and "column:email" in html


def test_unknown_control_is_marked_not_linked(report_factory: Callable[..., ScanReport]) -> None:
    f = Finding(
        rule_id="r",
        title="t",
        severity=Severity.LOW,
        asset_uri="a",
        location=Location(path="a"),
        scanner="s",
        controls=("javascript:alert(1)",),
    )
    html = to_html(report_factory([f]))
    assert 'href="javascript' not in html
    assert 'class="ctl unknown"' in html


def test_passed_and_no_decision_banners(report_factory: Callable[..., ScanReport]) -> None:
    assert "PASSED" in to_html(report_factory([], decision={"passed": True, "threshold": "high", "reasons": []}))
    assert "No policy decision" in to_html(report_factory([], decision=None))


def test_empty_report(report_factory: Callable[..., ScanReport], tmp_path: Path) -> None:
    report = report_factory([], assets=[], decision=None, finished_at=None)
    out = HtmlRenderer().render(report, tmp_path)
    html = out.read_text("utf-8")
    assert out.name == "report.html"
    assert "No findings." in html and "No assets recorded." in html
    _parse(html)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from("<>&\"'abc/= \n"), min_size=1, max_size=40))
def test_no_markup_from_data(report_factory: Callable[..., ScanReport], s: str) -> None:
    f = Finding(
        rule_id="r",
        title=s,
        severity=Severity.MEDIUM,
        asset_uri=s,
        location=Location(path=s),
        scanner="s",
        evidence=s,
    )
    clean = to_html(report_factory([f], project="p"))
    # Every start tag in the output is one the template itself writes.
    allowed = {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "input",
        "main",
        "header",
        "h1",
        "h2",
        "div",
        "span",
        "code",
        "section",
        "ul",
        "li",
        "strong",
        "p",
        "details",
        "summary",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "label",
        "footer",
        "a",
    }
    assert {t for t, _ in _parse(clean).tags} <= allowed


def test_controls_section_counts_each_finding_once(sample: ScanReport) -> None:
    html = to_html(sample)
    section = html[html.index('id="controls"') : html.index('id="assets"')]
    # Two PII findings cite gdpr:Art.5; the pickle finding cites GOVERN-6.1 (written as GV-6.1).
    assert re.search(r">gdpr:Art\.5</a></td>\s*<td>[^<]*</td>\s*<td>2</td>", section)
    assert re.search(r">nist-ai-rmf:GOVERN-6\.1</a></td>\s*<td>[^<]*</td>\s*<td>1</td>", section)
    assert section.index("owasp-llm:LLM02") < section.index("owasp-ml:ML06") < section.index("gdpr:Art.5")
