"""Finding renderers by format name: the built-ins plus any registered plug-ins."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bastion.core.plugins import RENDERERS, PluginError, Renderer, plugins
from bastion.core.report_model import ScanReport
from bastion.report._html import HtmlRenderer
from bastion.report._json import JsonRenderer
from bastion.report._sarif import SarifRenderer

DEFAULT_FORMATS = ("json", "sarif", "html")


def renderers() -> dict[str, Renderer]:
    """Built-in renderers, overlaid by entry-point plug-ins of the same or new names.

    The built-ins do not depend on the package metadata being installed, so
    reports still work from a source checkout; a plug-in that fails to load is
    reported only when its format is asked for.
    """
    found: dict[str, Renderer] = {r.name: r for r in (JsonRenderer(), SarifRenderer(), HtmlRenderer())}
    try:
        for name, obj in plugins(RENDERERS).items():
            if isinstance(obj, Renderer):
                found[name] = obj
    except PluginError:
        pass
    return found


def _resolve(formats: Iterable[str]) -> list[Renderer]:
    available = renderers()
    wanted = [f.strip().casefold() for f in formats if f.strip()]
    missing = [f for f in wanted if f not in available]
    if missing:
        detail = ""
        try:
            plugins(RENDERERS)
        except PluginError as exc:
            detail = f" ({exc})"
        known = ", ".join(sorted(available))
        raise ValueError(f"unknown report format(s): {', '.join(missing)}; available: {known}{detail}")
    return [available[f] for f in dict.fromkeys(wanted)]


def write_reports(
    report: ScanReport,
    out_dir: Path,
    formats: Iterable[str] = DEFAULT_FORMATS,
    *,
    basename: str = "report",
) -> dict[str, Path]:
    """Write one file per format into `out_dir` (created if needed); returns {format: path}.

    Formats are all checked before any file is written, so a typo in the last one
    does not leave a half-written set behind.
    """
    if not basename or "/" in basename or "\\" in basename or basename in (".", ".."):
        raise ValueError(f"invalid report basename {basename!r}")
    chosen = _resolve(formats)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(20, "not a directory", str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    return {r.name: r.render(report, out_dir / f"{basename}{r.suffix}") for r in chosen}
