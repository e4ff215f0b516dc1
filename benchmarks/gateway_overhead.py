"""Gateway overhead against calling the upstream directly, with wrk on loopback, in one run.

What is measured (all against the same local OpenAI-compatible upstream):

- direct:  wrk -> upstream
- bastion: wrk -> `bastion serve` (API-key auth, per-key limits, audit to SQLite, PII guard
           redacting a 1 KB prompt with an e-mail and a phone number) -> upstream
- litellm: wrk -> LiteLLM proxy (no auth, no guards, its defaults) -> upstream, when
           .venv-bench-gateway exists (see benchmarks/requirements-gateway.txt)

Paced run: each of C connections waits C/RATE seconds between requests (wrk's `delay()`),
about RATE requests/s; wrk's latency percentiles exclude the pacing. Saturation: no pacing,
64 connections. Added latency = gateway percentile - direct percentile at the same rate.

    .venv/bin/python benchmarks/gateway_overhead.py [--rate 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
LITELLM = ROOT / ".venv-bench-gateway" / "bin" / "litellm"
LITELLM_KEY = "sk-bench-" + os.urandom(16).hex()  # LiteLLM authenticates too (its master key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"process for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def prompt_1kb() -> str:
    base = (
        "Customer jane.doe@example.org called from +44 20 7946 0958 about a disputed card payment. "
        "Summarise the case and propose next steps for the fraud team. "
    )
    text = base
    filler = "The transaction history shows several small purchases followed by a large transfer abroad. "
    while len(text) < 1024:
        text += filler
    return text[:1024]


LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = [[{body}]]
{delay}
"""


def run_wrk(
    url: str, key: str, body: str, seconds: int, conns: int, rate: int | None, folder: Path
) -> dict[str, float]:
    delay = f"function delay() return {conns * 1000 / rate:.3f} end" if rate else ""
    script = folder / f"wrk-{time.monotonic_ns()}.lua"
    script.write_text(LUA.format(key=key, body=body, delay=delay))
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2" if conns >= 2 else "1",
            "-c",
            str(conns),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "p50": ms("50"),
        "p90": ms("90"),
        "p99": ms("99"),
        "rps": rps,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=500)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--no-litellm", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    import json

    body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": prompt_1kb()}], "max_tokens": 16})
    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bastion-gw-bench-"))
    try:
        up_port, gw_port, ll_port = free_port(), free_port(), free_port()
        procs.append(subprocess.Popen([PY, str(ROOT / "benchmarks" / "gateway_upstream.py"), str(up_port)]))
        upstream = f"http://127.0.0.1:{up_port}"
        wait(upstream + "/", procs[-1])

        state = tmp / "state"
        db = f"sqlite:///{state / 'bastion.db'}"
        sys.path.insert(0, str(ROOT / "src"))
        from bastion.core.store import Store
        from bastion.gateway import key_store

        store = Store.open(db, state_dir=state)
        key, _ = key_store(store, "bench").create(tenant="bank", name="bench", roles=["application"], actor="bench")
        store.close()
        cfg = tmp / "gateway.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "project": "bench",
                    "models": [{"name": "echo", "upstream": upstream + "/v1"}],
                    "guards": [{"name": "pii", "action": "redact", "on_error": "closed", "timeout_ms": 250}],
                    "key_limits": {"requests_per_minute": 10_000_000, "tokens_per_minute": 10**12},
                    "auth_failures_per_minute": 1000,
                }
            )
        )
        env = {**os.environ, "BASTION_STATE_DIR": str(state)}
        procs.append(
            subprocess.Popen(
                [PY, "-m", "bastion", "--db", db, "serve", "-g", str(cfg), "--port", str(gw_port)], env=env
            )
        )
        gateway = f"http://127.0.0.1:{gw_port}"
        wait(gateway + "/healthz", procs[-1])

        targets = {"direct": upstream + "/v1/chat/completions", "bastion": gateway + "/v1/chat/completions"}
        if LITELLM.exists() and not args.no_litellm:
            ll_cfg = tmp / "litellm.yaml"
            ll_cfg.write_text(
                yaml.safe_dump(
                    {
                        "model_list": [
                            {
                                "model_name": "echo",
                                "litellm_params": {
                                    "model": "openai/echo",
                                    "api_base": upstream + "/v1",
                                    "api_key": "none",
                                },
                            }
                        ],
                        "general_settings": {"master_key": LITELLM_KEY},
                    }
                )
            )
            procs.append(
                subprocess.Popen(
                    [str(LITELLM), "--config", str(ll_cfg), "--port", str(ll_port), "--host", "127.0.0.1"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait(f"http://127.0.0.1:{ll_port}/health/liveliness", procs[-1], timeout=180)
            targets["litellm"] = f"http://127.0.0.1:{ll_port}/v1/chat/completions"

        keys = {"direct": key, "bastion": key, "litellm": LITELLM_KEY}
        for name, url in targets.items():  # warm-up
            run_wrk(url, keys[name], body, 2, 4, None, tmp)
        paced = {
            n: run_wrk(u, keys[n], body, args.seconds, args.connections, args.rate, tmp) for n, u in targets.items()
        }
        sat = {n: run_wrk(u, keys[n], body, args.seconds, 64, None, tmp) for n, u in targets.items()}

        print(f"\n1 KB prompts, paced at ~{args.rate} req/s with {args.connections} connections, {args.seconds}s each")
        print(f"{'target':10} {'rps':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for n, r in paced.items():
            print(f"{n:10} {r['rps']:8.0f} {r['p50']:8.2f} {r['p90']:8.2f} {r['p99']:8.2f} {r['non2xx']:8.0f}")
        d, b = paced["direct"], paced["bastion"]
        print(
            f"bastion added: p50 {b['p50'] - d['p50']:.2f} ms (goal <= 2), "
            f"p99 {b['p99'] - d['p99']:.2f} ms (goal <= 10)"
        )
        if "litellm" in paced:
            l_ = paced["litellm"]
            print(f"litellm added: p50 {l_['p50'] - d['p50']:.2f} ms, p99 {l_['p99'] - d['p99']:.2f} ms")
            print(
                "ratio added-latency bastion/litellm: "
                f"p50 {(b['p50'] - d['p50']) / max(1e-9, l_['p50'] - d['p50']):.2f}"
            )
        print("\nsaturation (64 connections, unpaced)")
        for n, r in sat.items():
            print(
                f"{n:10} {r['rps']:8.0f} req/s  p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  non-2xx {r['non2xx']:.0f}"
            )
        if "litellm" in sat:
            print(f"throughput ratio bastion/litellm: {sat['bastion']['rps'] / sat['litellm']['rps']:.2f}")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
