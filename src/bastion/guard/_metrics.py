"""Prometheus text exposition of the stored monitoring state (what `bastion monitor` shows).

Written by hand rather than through prometheus-client so the gateway can serve
it from any process without a registry, and so it costs two queries per scrape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bastion.core.store import Store


def _label(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(store: Store, project: str) -> str:
    from bastion.guard._alerts.dispatch import list_alerts
    from bastion.guard._drift.monitor import list_monitors

    lines = [
        "# HELP bastion_drift_windows_total Drift windows evaluated per monitor.",
        "# TYPE bastion_drift_windows_total counter",
    ]
    mons = list_monitors(store, project)
    p = _label(project)
    for m in mons:
        lines.append(f'bastion_drift_windows_total{{project="{p}",monitor="{_label(m["name"])}"}} {m["windows"]}')
    lines += ["# HELP bastion_drift_drifted_windows_total Windows that drifted.",
              "# TYPE bastion_drift_drifted_windows_total counter"]  # fmt: skip
    for m in mons:
        lines.append(
            f'bastion_drift_drifted_windows_total{{project="{p}",monitor="{_label(m["name"])}"}} {m["drifted_windows"]}'
        )
    lines += ["# HELP bastion_drift_last_max_score Highest per-feature drift score of the last window.",
              "# TYPE bastion_drift_last_max_score gauge"]  # fmt: skip
    for m in mons:
        if m["last_max_score"] is not None:
            lines.append(
                f'bastion_drift_last_max_score{{project="{p}",monitor="{_label(m["name"])}"}} {m["last_max_score"]:.6f}'
            )
    lines += ["# HELP bastion_guard_alerts_total Alerts raised (including de-duplicated repeats).",
              "# TYPE bastion_guard_alerts_total counter"]  # fmt: skip
    totals: dict[tuple[str, str], int] = {}
    for a in list_alerts(store, project, limit=10_000):
        k = (a["kind"], a["severity"])
        totals[k] = totals.get(k, 0) + a["count"]
    for (kind, sev), n in sorted(totals.items()):
        lines.append(f'bastion_guard_alerts_total{{project="{p}",kind="{_label(kind)}",severity="{_label(sev)}"}} {n}')
    return "\n".join(lines) + "\n"
