"""Memo numbering exactly as `pickle._Unpickler` numbers it, and memo/DUP expansion bombs.

Malicious streams are built from raw opcodes. Where the real loader is run it is only on a
harmless twin of the stream (the same memo operations ending in a TUPLE instead of a
STACK_GLOBAL/REDUCE), so nothing from a payload is ever executed.
"""

from __future__ import annotations

import pickle
import struct

import pytest
from _model_build import u
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.types import Severity
from bastion.model._scan._pickle.analyser import PickleAnalyser
from bastion.model._scan.context import Limits, ScanContext
from bastion.model.scan import scan_bytes

RESOURCE = "model.container.resource-limit"


def _get(idx: int) -> bytes:
    return b"j" + struct.pack("<I", idx)  # LONG_BINGET


def _desync_prefix(fillers: int) -> bytes:
    """`fillers` memo entries of None, then 'os', 'collections', 'system', 'OrderedDict' memoized."""
    return (
        b"\x80\x04N"
        + b"\x94" * fillers
        + b"0"
        + u("os")
        + b"\x94"
        + u("collections")
        + b"\x94"
        + u("system")
        + b"\x94"
        + u("OrderedDict")
        + b"\x94"
        + b"0000"
    )


def test_memoize_past_a_million_entries_keeps_the_loaders_numbering() -> None:
    fillers = 1_000_001
    prefix = _desync_prefix(fillers)
    os_at, system_at = fillers, fillers + 2
    # The loader numbers MEMOIZE as len(memo): the harmless twin shows which strings it fetches.
    assert pickle.loads(prefix + _get(os_at) + _get(system_at) + b"\x86.") == ("os", "system")
    # The payload: STACK_GLOBAL of those two, called. An analyser that stopped counting memo keys at
    # its cap fetched 'collections' and 'OrderedDict' here and reported nothing.
    payload = prefix + _get(os_at) + _get(system_at) + b"\x93" + u("true") + b"\x85R."
    findings = scan_bytes(payload, "t.pkl")
    assert "os.system" in {f.properties.get("callable") for f in findings}
    assert max(f.severity for f in findings) is Severity.CRITICAL


_OPS = st.lists(
    st.tuples(st.sampled_from(["memoize", "binput", "long_binput", "put", "filler"]), st.integers(0, 12)),
    min_size=1,
    max_size=40,
)


def _program(ops: list[tuple[str, int]]) -> tuple[bytes, dict[int, str]]:
    """Opcodes that store strings (and int fillers) under memo keys, plus the loader's memo model."""
    out = bytearray(b"\x80\x04")
    memo: dict[int, object] = {}
    for i, (kind, key) in enumerate(ops):
        value: object = i if kind == "filler" else f"s{i}"
        out += (b"J" + struct.pack("<i", i)) if kind == "filler" else u(f"s{i}")
        if kind in ("memoize", "filler"):
            out += b"\x94"
            memo[len(memo)] = value
        elif kind == "binput":
            out += b"q" + bytes([key])
            memo[key] = value
        elif kind == "long_binput":
            out += b"r" + struct.pack("<I", key)
            memo[key] = value
        else:
            out += b"p" + str(key).encode() + b"\n"
            memo[key] = value
        out += b"0"
    return bytes(out), {k: v for k, v in memo.items() if isinstance(v, str)}


@settings(max_examples=200, deadline=None)
@given(_OPS, st.integers(1, 6), st.data())
def test_property_memo_matches_the_real_loader(ops: list[tuple[str, int]], keep: int, data: st.DataObject) -> None:
    body, strings = _program(ops)
    if not strings:
        return
    a = data.draw(st.sampled_from(sorted(strings)))
    b = data.draw(st.sampled_from(sorted(strings)))
    # the real loader, on a stream with no globals at all
    real = pickle.loads(body + _get(a) + _get(b) + b"\x86.")
    # the analyser, with a small memo cap so values past it are dropped while keys stay exact
    ctx = ScanContext("t", Limits(max_memo=keep))
    res = PickleAnalyser(ctx).analyse(body + _get(a) + _get(b) + b"\x93.")
    assert res.globals == [f"{real[0]}.{real[1]}"]


def test_get_of_a_key_the_loader_does_not_have_is_malformed_even_past_the_cap() -> None:
    ctx = ScanContext("t", Limits(max_memo=2))
    PickleAnalyser(ctx).analyse(b"\x80\x04N" + b"\x94" * 5 + _get(7) + b".")
    assert "model.pickle.malformed" in {f.rule_id for f in ctx.findings}


# ---------------------------------------------------------------------- expansion bombs
def _bomb_rules(blob: bytes) -> set[str]:
    return {f.rule_id for f in scan_bytes(blob, "t.pkl") if f.severity >= Severity.HIGH}


def test_dup_tuple_doubling_is_a_resource_finding() -> None:
    # t = (t, t) sixty times: 2**60 leaves from 122 bytes; hashing it (set member, dict key) never ends.
    assert RESOURCE in _bomb_rules(b"\x80\x02N" + b"2\x86" * 60 + b".")


def test_memo_list_fanout_is_a_resource_finding() -> None:
    # L0 = []; Li = [L(i-1)] * 10 through BINGET, nine levels: 10**9 implied elements.
    body = b"]q\x00"
    for level in range(1, 10):
        body += b"(" + (b"h" + bytes([level - 1])) * 10 + b"lq" + bytes([level]) + b"0"
    assert RESOURCE in _bomb_rules(b"\x80\x02" + body + b"h\x09.")


def test_frozenset_of_shared_tuples_is_a_resource_finding() -> None:
    tuples = b"N" + b"2\x86" * 40
    assert RESOURCE in _bomb_rules(b"\x80\x04(" + tuples + b"\x91.")


def test_bomb_inside_an_allowed_call_is_found() -> None:
    # builtins.frozenset((t, t)) with t doubled: the call result carries the expansion.
    blob = b"\x80\x02cbuiltins\nfrozenset\nN" + b"2\x86" * 40 + b"\x85R."
    assert RESOURCE in _bomb_rules(blob)


@pytest.mark.timeout(60)
def test_shared_tuple_as_dict_key_hangs_neither_loader_model_nor_analyser() -> None:
    # {t64: None} with t doubled through BINPUT/BINGET: the symbolic dict must not hash t64 either.
    body = b"Nq\x000"
    for level in range(1, 65):
        body += b"h" + bytes([level - 1]) + b"h" + bytes([level - 1]) + b"\x86q" + bytes([level]) + b"0"
    key = b"h\x40"  # BINGET 64: the 64-level tuple
    for dict_ops in (b"}" + key + b"Ns", b"}(" + key + b"Nu", b"(" + key + b"Nd"):  # SETITEM, SETITEMS, DICT
        assert RESOURCE in _bomb_rules(b"\x80\x02" + body + dict_ops + b".")


def test_analysing_a_long_bomb_stays_linear() -> None:
    # 200,000 doublings: the implied size is 2**200000, the analyser caps its counts.
    ctx = ScanContext("t")
    PickleAnalyser(ctx).analyse(b"\x80\x02N" + b"2\x86" * 200_000 + b".")
    assert [f.rule_id for f in ctx.findings].count(RESOURCE) == 1


def test_genuine_sharing_is_not_a_bomb() -> None:
    shared = {"w": list(range(50))}
    rows = [[shared] * 100 for _ in range(100)]  # 10,000 references to one dict
    for protocol in (2, 4, 5):
        findings = scan_bytes(pickle.dumps({"rows": rows, "cycle": _cycle()}, protocol=protocol), "t.pkl")
        assert not [f for f in findings if f.severity >= Severity.MEDIUM], findings


def _cycle() -> list[object]:
    a: list[object] = []
    b: list[object] = [a]
    a.append(b)
    a.append(a)
    return a
