"""Gateway overhead against calling the upstream directly, with wrk on loopback, in one run.

What is measured (all against the same local OpenAI-compatible upstream):

- direct:  wrk -> upstream
- bastion: wrk -> `bastion serve` (API-key auth, per-key limits, audit to SQLite, PII guard
           redacting a 1 KB prompt with an e-mail and a phone number, output guard) -> upstream
- litellm: wrk -> LiteLLM proxy (master-key auth, no guards, its defaults) -> upstream, when
           .venv-bench-gateway exists (see benchmarks/requirements-gateway.txt)

Paced runs are open-loop: each wrk thread sends on a fixed schedule (RATE/threads requests
per second, from a monotonic clock through LuaJIT's FFI in wrk's `delay()`), whatever the
latency, so a slow target cannot lower the offered rate (a fixed per-connection delay would).
wrk measures latency from the moment each request is written. Saturation: no pacing, 64
connections. Added latency = target percentile - direct percentile at the same rate.

CPU placement (2-core machine): the gateway (and LiteLLM) run on --gateway-cpus (default
CPU 0); wrk and the upstream share --client-cpus (default CPU 1), so the load generator never
competes with the gateway for its core. While one proxy is measured the other is stopped
(SIGSTOP), so idle background work of one cannot slow the other. Other work on the machine is not under our control:
the load average is printed before and after. Load-independent numbers are printed too: the
CPU time each process used per request (from /proc), and wrk's own CPU time (from rusage),
which shows whether the load generator was the bottleneck.

    .venv/bin/python benchmarks/gateway_overhead.py [--rates 200,500] [--seconds 10] [--workers 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
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

# The guard chains the benchmark can put in front of the upstream.
_INJECTION: dict[str, object] = {"name": "injection", "action": "block", "on_error": "closed", "directions": ["input"]}
_PII: dict[str, object] = {"name": "pii", "action": "redact", "on_error": "closed", "timeout_ms": 250}
_LEAKAGE: dict[str, object] = {"name": "leakage", "action": "block", "on_error": "closed", "directions": ["output"]}
GUARD_STACKS: dict[str, list[dict[str, object]]] = {
    "pii": [_PII],
    "full": [_INJECTION, _PII, _LEAKAGE],
    # The worst case of "full": the injection encoder on every prompt, whatever the n-gram stage says.
    "full-encoder": [{**_INJECTION, "options": {"encoder_floor": -1e9}}, _PII, _LEAKAGE],
}


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

# Open-loop pacing: a per-thread schedule on CLOCK_MONOTONIC (LuaJIT FFI), not a fixed pause.
PACER = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct {{ long tv_sec; long tv_nsec; }} bst_timespec;
           int clock_gettime(int clk, bst_timespec *tp); ]]
local ts = ffi.new("bst_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval = {interval}
local next_at = nil
function delay()
  local t = now_ms()
  if next_at == nil then next_at = t end
  next_at = next_at + interval
  local d = next_at - t
  if d < -1000 then next_at = t end  -- a long stall: restart the schedule rather than burst
  if d < 0 then return 0 end
  return d
end
"""


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of `pid` and its direct children (uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1] is the parent pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def family(pid: int) -> list[int]:
    """`pid` and its direct children (uvicorn's worker processes)."""
    out = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
            except OSError:
                continue
    return out


def only(active: str | None, targets: dict[str, int]) -> None:
    """Let only the measured proxy run: the others are stopped (SIGSTOP), so their background
    work (LiteLLM's schedulers, Bastion's audit writer) cannot take CPU from the one measured."""
    import signal

    for name, pid in targets.items():
        for p in family(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGCONT if name == active or active is None else signal.SIGSTOP)


def pinned(cpus: str | None, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *cmd] if cpus and shutil.which("taskset") else cmd


def run_wrk(
    url: str,
    key: str,
    body: str,
    seconds: int,
    conns: int,
    rate: int | None,
    folder: Path,
    cpus: str | None,
    watch: dict[str, int],
) -> dict[str, float]:
    threads = 2 if conns >= 2 else 1
    delay = PACER.format(interval=f"{threads * 1000 / rate:.4f}") if rate else ""
    script = folder / f"wrk-{time.monotonic_ns()}.lua"
    script.write_text(LUA.format(key=key, body=body, delay=delay))
    before = {n: cpu_s(p) for n, p in watch.items()}
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        pinned(
            cpus,
            ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--latency", "-s", str(script), url],
        ),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = {n: cpu_s(p) - before[n] for n, p in watch.items()}

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    result = {
        "p50": ms("50"),
        "p90": ms("90"),
        "p99": ms("99"),
        "rps": rps,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
        "wrk_cpu_ms_per_req": 1000 * wrk_cpu / max(1, total),
    }
    for n, sec in used.items():
        result[f"{n}_cpu_ms_per_req"] = 1000 * sec / max(1, total)
    return result


NO_ADMISSION = {"max_concurrent_requests": 100_000, "max_queued_requests": 0}


def overload_guards(stack: list[dict[str, object]]) -> list[dict[str, object]]:
    """The stack as an overload exposes it: injection fail-open on a 100 ms budget (the documented example).

    Before admission control, an overloaded gateway let such a guard time out in its queue
    and pass the prompt unchecked; the run counts how often a guard could not run.
    """
    return [{**g, "on_error": "open", "timeout_ms": 100} if g["name"] == "injection" else g for g in stack]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def audit_summary(db: Path, since_id: int) -> dict[str, object]:
    """Status counts, latency percentiles per status and guard outcomes, from the gateway's own request log."""
    import json
    import sqlite3

    time.sleep(1.5)  # the audit writer flushes every 100 ms; let it catch up
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT status, decision, latency_ms, data FROM gateway_requests WHERE id > ?", (since_id,)
        ).fetchall()
    by_status: dict[int, list[float]] = {}
    decisions: dict[str, int] = {}
    guard_errors: dict[str, int] = {}
    passed_unchecked = 0
    for status, decision, latency, data in rows:
        by_status.setdefault(int(status), []).append(float(latency))
        decisions[decision] = decisions.get(decision, 0) + 1
        errors = [g for g in json.loads(data).get("guards", []) if g.get("effect") == "error"]
        for g in errors:
            k = f"{g['guard']}:{g.get('error')}"
            guard_errors[k] = guard_errors.get(k, 0) + 1
        if errors and int(status) == 200:
            passed_unchecked += 1
    return {
        "requests": len(rows),
        "status": {str(k): len(v) for k, v in sorted(by_status.items())},
        "latency_ms": {
            str(k): {"p50": _pct(v, 0.5), "p99": _pct(v, 0.99), "max": max(v)} for k, v in sorted(by_status.items())
        },
        "decisions": decisions,
        "guard_errors": guard_errors,
        "answered_200_with_a_guard_skipped": passed_unchecked,
    }


def _last_id(db: Path) -> int:
    import sqlite3

    time.sleep(1.5)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM gateway_requests").fetchone()[0])


def overload(
    args: argparse.Namespace,
    url: str,
    key: str,
    body: str,
    tmp: Path,
    cpus: str | None,
    pids: dict[str, int],
    db: Path,
) -> None:
    """Saturation rate S (unpaced), then FACTOR x S offered open-loop; wrk's view and the gateway log's."""
    import json

    watch = {"target": pids["bastion"]}
    run_wrk(url, key, body, 3, 8, None, tmp, cpus, {})  # warm-up
    sat = run_wrk(url, key, body, args.seconds, args.saturation_connections, None, tmp, cpus, watch)
    ok_rps = sat["rps"] * (1 - sat["non2xx"] / max(1.0, sat["rps"] * args.seconds))
    rate = max(1, int(args.overload * ok_rps))
    start = _last_id(db)
    res = run_wrk(url, key, body, args.seconds, args.overload_connections, rate, tmp, cpus, watch)
    log = audit_summary(db, start)
    print(
        f"\noverload: guards {args.guards} (injection on_error open, 100 ms), admission {args.admission} "
        f"(max_concurrent {args.max_concurrent or 'default'}, max_queued {args.max_queued}); "
        f"load average {load()}"
    )
    print(
        f"saturation ({args.saturation_connections} connections, unpaced): {sat['rps']:.0f} req/s "
        f"({ok_rps:.0f} answered 2xx), p99 {sat['p99']:.1f} ms"
    )
    print(
        f"offered {rate} req/s ({args.overload:g}x) on {args.overload_connections} connections: achieved "
        f"{res['rps']:.0f} req/s, wrk p50 {res['p50']:.1f} ms, p90 {res['p90']:.1f} ms, p99 {res['p99']:.1f} ms, "
        f"non-2xx {res['non2xx']:.0f}"
    )
    print(f"gateway's own log: {json.dumps(log)}")
    if args.json:
        args.json.write_text(json.dumps({"saturation": sat, "overload": res, "log": log, "rate": rate}, indent=2))


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="200,500", help="paced rates, comma-separated (req/s)")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32, help="connections for paced runs")
    ap.add_argument("--workers", type=int, default=1, help="bastion serve --workers")
    ap.add_argument("--gateway-cpus", default="0", help="taskset CPU list for the gateway and LiteLLM ('' = any)")
    ap.add_argument("--client-cpus", default="1", help="taskset CPU list for wrk and the upstream ('' = any)")
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument(
        "--guards",
        choices=sorted(GUARD_STACKS),
        default="pii",
        help="pii: the PII redaction guard (issue #8); full: injection + PII on input, leakage on output (#9); "
        "full-encoder: full with the injection encoder forced on every prompt",
    )
    ap.add_argument("--json", type=Path, help="also write all numbers to this file")
    ap.add_argument(
        "--overload",
        type=float,
        default=0.0,
        metavar="FACTOR",
        help="instead of the overhead runs: measure Bastion's saturation rate, then offer FACTOR times it "
        "(open loop, --overload-connections) and report latency, refusals and guard outcomes from the audit log",
    )
    ap.add_argument("--overload-connections", type=int, default=256)
    ap.add_argument(
        "--saturation-connections",
        type=int,
        default=32,
        help="connections for the saturation rate of --overload: at most the gateway's slots + queue (8 + 32), "
        "so it measures capacity, not how fast refusals come back",
    )
    ap.add_argument(
        "--admission",
        choices=["on", "off"],
        default="on",
        help="off: no admission control (max_concurrent_requests very high), for comparison",
    )
    ap.add_argument("--max-concurrent", type=int, help="gateway.yaml max_concurrent_requests (default: its own)")
    ap.add_argument("--max-queued", type=int, help="gateway.yaml max_queued_requests (default: its own)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if (os.cpu_count() or 1) < 2:
        args.gateway_cpus = args.client_cpus = ""
    gw_cpus, cl_cpus = args.gateway_cpus or None, args.client_cpus or None
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    import json

    body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": prompt_1kb()}], "max_tokens": 16})
    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bastion-gw-bench-"))
    load_before = load()
    try:
        up_port, gw_port, ll_port = free_port(), free_port(), free_port()
        procs.append(
            subprocess.Popen(pinned(cl_cpus, [PY, str(ROOT / "benchmarks" / "gateway_upstream.py"), str(up_port)]))
        )
        upstream = f"http://127.0.0.1:{up_port}"
        wait(upstream + "/", procs[-1])
        pids = {"upstream": procs[-1].pid}

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
                    "guards": (overload_guards if args.overload else list)(GUARD_STACKS[args.guards]),
                    "key_limits": {"requests_per_minute": 10_000_000, "tokens_per_minute": 10**12},
                    "auth_failures_per_minute": 1000,
                    **(NO_ADMISSION if args.admission == "off" else {}),
                    **({"max_concurrent_requests": args.max_concurrent} if args.max_concurrent else {}),
                    **({"max_queued_requests": args.max_queued} if args.max_queued is not None else {}),
                }
            )
        )
        env = {**os.environ, "BASTION_STATE_DIR": str(state)}
        serve = [PY, "-m", "bastion", "--db", db, "serve", "-g", str(cfg), "--port", str(gw_port)]
        if args.workers > 1:
            serve += ["--workers", str(args.workers)]
        procs.append(subprocess.Popen(pinned(gw_cpus, serve), env=env))
        pids["bastion"] = procs[-1].pid
        gateway = f"http://127.0.0.1:{gw_port}"
        wait(gateway + "/healthz", procs[-1])

        if args.overload:
            overload(args, gateway + "/v1/chat/completions", key, body, tmp, cl_cpus, pids, state / "bastion.db")
            return
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
                    pinned(
                        gw_cpus,
                        [str(LITELLM), "--config", str(ll_cfg), "--port", str(ll_port), "--host", "127.0.0.1"],
                    ),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait(f"http://127.0.0.1:{ll_port}/health/liveliness", procs[-1], timeout=180)
            pids["litellm"] = procs[-1].pid
            targets["litellm"] = f"http://127.0.0.1:{ll_port}/v1/chat/completions"

        keys = {"direct": key, "bastion": key, "litellm": LITELLM_KEY}

        def watch(name: str) -> dict[str, int]:
            return (
                {"target": pids[name], "upstream": pids["upstream"]}
                if name != "direct"
                else {"target": pids["upstream"]}
            )

        proxies = {n: p for n, p in pids.items() if n != "upstream"}

        def measure(name: str, url: str, conns: int, rate: int | None) -> dict[str, float]:
            only(name, proxies)
            return run_wrk(url, keys[name], body, args.seconds, conns, rate, tmp, cl_cpus, watch(name))

        for name, url in targets.items():  # warm-up: connections, caches, lazy imports
            only(name, proxies)
            run_wrk(url, keys[name], body, 3, 8, None, tmp, cl_cpus, {})
        paced: dict[int, dict[str, dict[str, float]]] = {}
        for rate in rates:
            paced[rate] = {n: measure(n, u, args.connections, rate) for n, u in targets.items()}
        sat = {n: measure(n, u, 64, None) for n, u in targets.items()}
        only(None, proxies)
        load_after = load()

        print(
            f"\n1 KB prompts, {args.seconds}s per run, {args.connections} connections paced (open loop); "
            f"gateway CPUs {gw_cpus or 'any'}, wrk+upstream CPUs {cl_cpus or 'any'}; workers {args.workers}; "
            f"load average before {load_before}, after {load_after}"
        )
        for rate, res in paced.items():
            print(f"\noffered ~{rate} req/s")
            print(
                f"{'target':10} {'rps':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
                f"{'cpu ms/req':>10} {'wrk cpu ms/req':>14}"
            )
            for n, r in res.items():
                print(
                    f"{n:10} {r['rps']:7.0f} {r['p50']:8.2f} {r['p90']:8.2f} {r['p99']:8.2f} {r['non2xx']:8.0f} "
                    f"{r['target_cpu_ms_per_req']:10.3f} {r['wrk_cpu_ms_per_req']:14.3f}"
                )
            d, b = res["direct"], res["bastion"]
            print(
                f"bastion added: p50 {b['p50'] - d['p50']:.2f} ms (goal <= 2), "
                f"p99 {b['p99'] - d['p99']:.2f} ms (goal <= 10)"
            )
            if "litellm" in res:
                l_ = res["litellm"]
                print(f"litellm added: p50 {l_['p50'] - d['p50']:.2f} ms, p99 {l_['p99'] - d['p99']:.2f} ms")
                print(
                    "ratio added latency bastion/litellm: "
                    f"p50 {(b['p50'] - d['p50']) / max(1e-9, l_['p50'] - d['p50']):.3f}, "
                    f"p99 {(b['p99'] - d['p99']) / max(1e-9, l_['p99'] - d['p99']):.3f}"
                )
        print("\nsaturation (64 connections, unpaced)")
        for n, r in sat.items():
            print(
                f"{n:10} {r['rps']:8.0f} req/s  p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  "
                f"non-2xx {r['non2xx']:.0f}  cpu {r['target_cpu_ms_per_req']:.3f} ms/req  "
                f"wrk cpu {r['wrk_cpu_ms_per_req']:.3f} ms/req"
            )
        if "litellm" in sat:
            print(f"throughput ratio bastion/litellm: {sat['bastion']['rps'] / sat['litellm']['rps']:.2f}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "paced": paced,
                        "saturation": sat,
                        "load_before": load_before,
                        "load_after": load_after,
                        "args": {k: str(v) for k, v in vars(args).items()},
                    },
                    indent=2,
                )
            )
    finally:
        import signal

        for p in reversed(procs):
            for child in family(p.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGCONT)  # a stopped process would not act on SIGTERM
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
