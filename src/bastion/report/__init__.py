"""Reports: one scan, rendered as JSON (lossless), SARIF 2.1.0 (dashboards), HTML (people)
and a terminal summary.

Renderers are plug-ins (`bastion.core.plugins.Renderer`, entry-point group
``bastion.renderers``): the built-ins here are registered the same way a third
party's would be, and `write_reports` is the one call a surface needs.
"""

from __future__ import annotations

from bastion.core.plugins import Renderer
from bastion.core.report_model import REPORT_SCHEMA, ScanReport
from bastion.report._html import HtmlRenderer, to_html
from bastion.report._json import JsonRenderer, load_json, to_json
from bastion.report._registry import DEFAULT_FORMATS, renderers, write_reports
from bastion.report._sarif import SARIF_SCHEMA_URI, SarifRenderer, to_sarif
from bastion.report._terminal import print_summary

__all__ = [
    "DEFAULT_FORMATS",
    "REPORT_SCHEMA",
    "SARIF_SCHEMA_URI",
    "HtmlRenderer",
    "JsonRenderer",
    "Renderer",
    "SarifRenderer",
    "ScanReport",
    "load_json",
    "print_summary",
    "renderers",
    "to_html",
    "to_json",
    "to_sarif",
    "write_reports",
]
