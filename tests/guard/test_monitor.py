from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from bastion.core.store import Store
from bastion.guard import (
    AlertDispatcher,
    Monitor,
    SyslogSink,
    chi_square,
    ks,
    list_alerts,
    list_monitors,
    prometheus_text,
    psi,
    sign,
    verify_signature,
    wasserstein,
)

RNG = np.random.default_rng(3)


def test_statistics() -> None:
    a, b = RNG.normal(size=800), RNG.normal(size=800)
    d, p = ks(a, b)
    assert p > 0.01
    d2, p2 = ks(a, b + 0.5)
    assert p2 < 1e-6 and d2 > d
    assert wasserstein(a, b + 1.0) == pytest.approx(1.0, abs=0.15)
    assert chi_square(np.array([100, 100, 100]), np.array([98, 103, 99]))[1] > 0.5
    assert chi_square(np.array([100, 100, 100]), np.array([250, 30, 20]))[1] < 1e-6
    assert psi(np.array([50, 50]), np.array([50, 50])) < 1e-6 < psi(np.array([50, 50]), np.array([90, 10]))


class Recorder:
    name = "rec"

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send(self, payload: dict) -> None:
        self.sent.append(payload)


def test_monitor_detects_shift_and_persists(store: Store) -> None:
    ref = np.column_stack([RNG.normal(size=2000), RNG.normal(size=2000), RNG.integers(0, 3, 2000)])
    rec = Recorder()
    alerts = AlertDispatcher([rec], store=store, project="p1", dedup_s=3600)
    mon = Monitor("fraud", ref, features=["amount", "age", "channel"], categorical=["channel"], window=400,
                  store=store, project="p1", alerts=alerts, prediction_reference=RNG.integers(0, 2, 2000))  # fmt: skip
    same = np.column_stack([RNG.normal(size=400), RNG.normal(size=400), RNG.integers(0, 3, 400)])
    (r1,) = mon.observe(same, predictions=RNG.integers(0, 2, 400))
    assert not r1.drifted
    shifted = np.column_stack([RNG.normal(1.0, 1, 400), RNG.normal(size=400), RNG.choice([0, 0, 0, 2], 400)])
    (r2,) = mon.observe(shifted, predictions=RNG.integers(0, 2, 400))
    assert r2.drifted and {"amount", "channel"} <= set(r2.drifted_features) and "age" not in r2.drifted_features
    (r3,) = mon.observe(shifted, predictions=RNG.integers(0, 2, 400))
    assert r3.drifted
    assert len(rec.sent) == 1  # the repeat was de-duplicated
    mons = list_monitors(store, "p1")
    assert mons[0]["windows"] == 3 and mons[0]["drifted_windows"] == 2 and mons[0]["last_drifted"]
    (alert,) = list_alerts(store, "p1")
    assert alert["count"] == 2 and alert["kind"] == "drift"
    kinds = [e.kind for e in store.audit.events("p1")]
    assert kinds.count("monitor.window") == 3 and "alert.raised" in kinds and "alert.suppressed" in kinds
    assert store.audit.verify().ok
    text = prometheus_text(store, "p1")
    assert 'bastion_drift_drifted_windows_total{project="p1",monitor="fraud"} 2' in text
    # Re-opening continues the sequence; nothing raw is stored.
    mon2 = Monitor("fraud", ref, features=["amount", "age", "channel"], categorical=["channel"], window=400,
                   store=store, project="p1")  # fmt: skip
    (r4,) = mon2.observe(same)
    assert r4.seq == 4


def test_multivariate_catches_correlation_change() -> None:
    x = RNG.normal(size=3000)
    ref = np.column_stack([x, x + 0.1 * RNG.normal(size=3000)])
    y = RNG.normal(size=500)
    cur = np.column_stack([y, -y + 0.1 * RNG.normal(size=500)])  # same marginals, flipped correlation
    mon = Monitor("corr", ref, window=500)
    (rep,) = mon.observe(cur)
    assert rep.drifted and not rep.drifted_features and rep.multivariate["reconstruction_p"] < 0.01


@pytest.mark.parametrize("bad", [[[np.nan, 1.0]], [[1.0, 2.0, 3.0]], "x"])
def test_monitor_bad_rows(bad: object) -> None:
    mon = Monitor("m", RNG.normal(size=(100, 2)), window=10)
    with pytest.raises(ValueError):
        mon.observe(bad)


def test_hmac_signature_and_replay() -> None:
    body = b'{"kind":"drift"}'
    headers = {"X-Bastion-Timestamp": "1000", "X-Bastion-Signature": sign(b"k", "1000", body)}
    assert verify_signature(b"k", body, headers, now=1100)
    assert not verify_signature(b"k", body + b" ", headers, now=1100)
    assert not verify_signature(b"other", body, headers, now=1100)
    assert not verify_signature(b"k", body, headers, now=5000)


def test_webhook_delivery_signed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from bastion.guard import WebhookSink

    got: list[tuple[bytes, dict]] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((body, dict(self.headers)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    th = threading.Thread(target=srv.handle_request, daemon=True)
    th.start()
    sink = WebhookSink(f"http://127.0.0.1:{srv.server_port}/hook", "s3cret")
    res = AlertDispatcher([sink]).raise_alert("extraction", "client-9", "high", {"queries": 120})
    th.join(5)
    srv.server_close()
    assert res.sent and not res.errors
    body, headers = got[0]
    assert verify_signature(b"s3cret", body, headers)
    assert json.loads(body)["data"] == {"queries": 120}


def test_syslog_and_broken_sink() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)

    class Broken:
        name = "broken"

        def send(self, payload: dict) -> None:
            raise OSError("down")

    sink = SyslogSink(("127.0.0.1", rx.getsockname()[1]))
    res = AlertDispatcher([Broken(), sink]).raise_alert("ood", "model-a", "high", {"rows": 3})
    msg = rx.recv(65535).decode()
    rx.close()
    assert msg.startswith("<11>1 ") and " bastion - ood - " in msg
    assert res.sent and res.errors and "broken" in res.errors[0]
    again = AlertDispatcher([sink])
    again.raise_alert("x", "s", "low", {})
    assert again.raise_alert("x", "s", "low", {}).deduplicated
