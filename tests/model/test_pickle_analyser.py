"""The symbolic pickle analyser: detection, resolution chains, broken streams, limits, properties."""

from __future__ import annotations

import collections
import datetime
import itertools
import pickle

import numpy as np
import pytest
from _model_build import exec_pickle, glob, p2, p4, u
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.types import Severity
from bastion.model._scan._pickle import policy
from bastion.model._scan._pickle.analyser import PickleAnalyser, looks_like_pickle
from bastion.model._scan.context import Limits, ScanContext, ScanTimeout
from bastion.model.scan import scan_bytes

DANGEROUS = "model.pickle.dangerous-callable"


def _scan(data: bytes) -> list:
    return scan_bytes(data, "t.pkl")


def _callables(findings: list) -> set[str]:
    return {f.properties.get("callable", "") for f in findings if f.rule_id == DANGEROUS}


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (b"cos\nsystem\n(S'echo'\ntR.", "os.system"),  # protocol 0
        (exec_pickle(), "builtins.exec"),
        (p4(u("subprocess") + u("Popen") + b"\x93" + u("true") + b"\x85R"), "subprocess.Popen"),
        (b"(S'x'\nios\nsystem\n.", "os.system"),  # INST
        (p2(b"(" + glob("os", "system") + u("x") + b"o"), "os.system"),  # OBJ
        (b"c__builtin__\neval\n(S'1'\ntR.", "builtins.eval"),  # python-2 name mapped
        (
            p4(u("asyncio.unix_events") + u("_UnixSelectorEventLoop") + b"\x93)R"),
            "asyncio.unix_events._UnixSelectorEventLoop",
        ),
    ],
)
def test_direct_dangerous_callables(blob: bytes, expected: str) -> None:
    findings = _scan(blob)
    assert expected in _callables(findings)
    assert max(f.severity for f in findings) is Severity.CRITICAL


def test_memo_indirection_resolves_stack_global() -> None:
    # 'os' and 'system' are memoized, popped, and fetched back with BINGET.
    blob = p4(u("os") + b"\x94" + u("system") + b"\x94" + b"00" + b"h\x00h\x01\x93" + u("x") + b"\x85R")
    assert "os.system" in _callables(_scan(blob))


def test_getattr_import_module_chain_resolves_target() -> None:
    blob = p2(
        glob("builtins", "getattr")
        + glob("importlib", "import_module")
        + u("os")
        + b"\x85R"
        + u("system")
        + b"\x86R"
        + u("x")
        + b"\x85R"
    )
    found = _callables(_scan(blob))
    assert {"os.system", "importlib.import_module"} <= found


def test_pkgutil_resolve_name_and_attrgetter() -> None:
    resolve = p2(glob("pkgutil", "resolve_name") + u("os:system") + b"\x85R" + u("x") + b"\x85R")
    assert "os.system" in _callables(_scan(resolve))
    getter = p2(
        glob("operator", "attrgetter")
        + u("system")
        + b"\x85R"
        + glob("builtins", "__import__")
        + u("os")
        + b"\x85R"
        + b"\x85R"
    )
    assert "os.system" in _callables(_scan(getter))


def test_nested_pickle_loads_is_analysed() -> None:
    inner = exec_pickle("print(1)")
    blob = p2(glob("pickle", "loads") + b"C" + bytes([len(inner)]) + inner + b"\x85R")
    findings = _scan(blob)
    assert "model.pickle.nested-payload" in {f.rule_id for f in findings}
    assert "builtins.exec" in _callables(findings)
    assert any("nested" in (f.location.pointer or "") for f in findings)


def test_getattr_on_allowed_class_is_not_allowed_by_the_class() -> None:
    # getattr(collections.OrderedDict, 'fromkeys'): a class being allowed does not allow its attributes
    blob = p2(glob("builtins", "getattr") + glob("collections", "OrderedDict") + u("fromkeys") + b"\x86R")
    assert [f for f in _scan(blob) if f.severity >= Severity.MEDIUM]


def test_getattr_to_dunder_is_dangerous() -> None:
    blob = p2(glob("builtins", "getattr") + glob("builtins", "object") + u("__subclasses__") + b"\x86R")
    assert max(f.severity for f in _scan(blob)) is Severity.CRITICAL


def test_unknown_callable_is_high_not_silent() -> None:
    findings = _scan(p2(glob("some_vendor.hooks", "Thing") + b")R"))
    assert [f.rule_id for f in findings] == ["model.pickle.unknown-callable"]
    assert findings[0].severity is Severity.HIGH


def test_broken_stream_keeps_earlier_findings() -> None:
    blob = b"\x80\x02" + glob("builtins", "exec") + u("x") + b"\x85R" + b"\xff"
    rules = {f.rule_id for f in _scan(blob)}
    assert {DANGEROUS, "model.pickle.malformed"} <= rules


@pytest.mark.parametrize(
    "blob",
    [
        b"\x80\x02",  # no STOP
        b"\x80\x02X\xff\xff\xff\x7f",  # length past end
        b"\x80\x02h\x05.",  # GET of a missing memo slot
        b"\x80\x02e.",  # APPENDS without MARK
        b"\x80\x09.",  # unknown protocol
        b"\x80\x02\x93.",  # STACK_GLOBAL on empty stack
        b"\x80\x02\x8c\x05ab",  # truncated short unicode
    ],
)
def test_malformed_streams_are_findings(blob: bytes) -> None:
    findings = _scan(blob)
    assert "model.pickle.malformed" in {f.rule_id for f in findings}


def test_stack_global_with_computed_operands_is_flagged() -> None:
    blob = p4(glob("builtins", "str") + b")R" + u("system") + b"\x93)R")
    assert {f.rule_id for f in _scan(blob)} & {"model.pickle.unresolved-callable", DANGEROUS}


def test_build_on_global_is_mutation() -> None:
    blob = p2(glob("collections", "OrderedDict") + b"}" + u("x") + u("y") + b"sb")
    assert "model.pickle.global-mutation" in {f.rule_id for f in _scan(blob)}


def test_huge_memo_index_is_cheap() -> None:
    # LONG_BINPUT 2**32-1 is one sparse key, not 2**32 slots; GET finds it again.
    blob = p2(u("x") + b"r\xff\xff\xff\xff" + b"0" + b"j\xff\xff\xff\xff")
    assert not [f for f in _scan(blob) if f.severity >= Severity.MEDIUM]


def test_pickle_bomb_is_bounded() -> None:
    # 200k DUPs of a list: a billion-laughs shape; the analyser never copies containers.
    blob = b"\x80\x02]" + b"2" * 200_000 + b"0" * 199_999 + b"."
    assert not [f for f in _scan(blob) if f.severity >= Severity.MEDIUM]


def test_stack_limit_produces_finding() -> None:
    blob = b"\x80\x02" + b"N" * 300_000 + b"."
    ctx = ScanContext("t", Limits(max_pickle_stack=1000))
    PickleAnalyser(ctx).analyse(blob)
    assert "model.container.resource-limit" in {f.rule_id for f in ctx.findings}


def test_time_budget_stops_the_analyser() -> None:
    # An injected clock that advances one second per check: deterministic, no wall-clock threshold.
    ticks = itertools.count()
    ctx = ScanContext("t", Limits(time_budget_s=3), clock=lambda: float(next(ticks)))
    with pytest.raises(ScanTimeout):
        PickleAnalyser(ctx).analyse(pickle.dumps(list(range(300_000)), protocol=4))


@pytest.mark.parametrize(
    "obj",
    [
        {"a": 1, "b": [1.5, "x", None, True], "c": (1, 2)},
        collections.OrderedDict(a=1),
        collections.Counter("abc"),
        datetime.datetime(2024, 1, 1),
        np.arange(10),
        np.zeros((2, 2), dtype=[("a", "<i4"), ("b", "<f8")]),
        {np.float32(1.0): np.int64(3)},
        {1, 2, 3},
        frozenset([1]),
        bytearray(b"xy"),
    ],
)
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_benign_pickles_are_clean(obj: object, protocol: int) -> None:
    findings = _scan(pickle.dumps(obj, protocol=protocol))
    assert not [f for f in findings if f.severity >= Severity.MEDIUM], findings


def test_policy_prefix_match_catches_submodules() -> None:
    assert policy.classify("os.path", "join") is policy.Verdict.DANGEROUS
    assert policy.classify("torch._utils", "_rebuild_tensor_v2") is policy.Verdict.ALLOWED
    assert policy.classify("sklearn.linear_model._logistic", "LogisticRegression") is policy.Verdict.ALLOWED
    assert policy.classify("sklearn.datasets", "fetch_openml") is policy.Verdict.UNKNOWN
    assert policy.classify("numpy", "load") is policy.Verdict.DANGEROUS


def test_looks_like_pickle() -> None:
    assert looks_like_pickle(b"\x80\x04\x95")
    assert looks_like_pickle(pickle.dumps({"a": [1, 2]}, protocol=0)[:40])
    assert not looks_like_pickle(b'{"json": true}')
    assert not looks_like_pickle(b"hello world")


# ---------------------------------------------------------------------- properties
_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=20)
)
_data = st.recursive(
    _leaf,
    lambda c: st.one_of(st.lists(c, max_size=5), st.tuples(c, c), st.dictionaries(st.text(max_size=5), c, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_data, st.integers(min_value=0, max_value=5))
def test_property_plain_data_is_never_flagged(obj: object, protocol: int) -> None:
    findings = _scan(pickle.dumps(obj, protocol=protocol))
    assert not findings


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_property_arbitrary_bytes_never_crash(blob: bytes) -> None:
    ctx = ScanContext("fuzz", Limits(time_budget_s=5))
    PickleAnalyser(ctx).analyse(b"\x80\x04" + blob)
    assert all(f.rule_id.startswith("model.") for f in ctx.findings)


@settings(max_examples=100, deadline=None)
@given(_data, st.integers(min_value=2, max_value=5), st.data())
def test_property_truncation_is_reported(obj: object, protocol: int, data: st.DataObject) -> None:
    blob = pickle.dumps(obj, protocol=protocol)
    cut = data.draw(st.integers(min_value=1, max_value=len(blob) - 1))
    findings = _scan(blob[:cut])
    # fail closed: a cut stream is never a clean pass
    assert {f.rule_id for f in findings} & {"model.pickle.malformed", "model.scan.unrecognised"}


@settings(max_examples=100, deadline=None)
@given(_data, st.sampled_from(["os.system", "builtins.exec", "subprocess.call", "posix.popen"]))
def test_property_payload_inside_data_is_found(obj: object, target: str) -> None:
    mod, name = target.rsplit(".", 1)
    payload = glob(mod, name) + u("x") + b"\x85R"
    body = pickle.dumps(obj, protocol=2)[2:-1]  # strip PROTO and STOP
    blob = b"\x80\x02" + body + b"0" + payload + b"."  # POP the data, then the payload
    assert target in _callables(_scan(blob))


def test_fake_joblib_wrapper_cannot_hide_plain_pickle_payload() -> None:
    payload = b"0" + glob("os", "system") + u("x") + b"\x85R"
    dtype = glob("numpy", "dtype") + u("u1") + b"\x89\x88\x87R"
    state = (
        b"}("
        + u("subclass")
        + glob("numpy", "ndarray")
        + u("shape")
        + b"K"
        + bytes([len(payload)])
        + b"\x85"
        + u("order")
        + u("C")
        + u("dtype")
        + dtype
        + u("allow_mmap")
        + b"\x89u"
    )
    blob = b"\x80\x04" + glob("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b" + payload + b"."
    assert "os.system" in _callables(_scan(blob))


def test_real_joblib_arrays_are_skipped_cleanly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    joblib = pytest.importorskip("joblib")
    p = tmp_path / "a.joblib"
    joblib.dump([np.frombuffer(bytes(range(256)) * 4, dtype=np.uint8), np.arange(50.0)], p)
    assert not _scan(p.read_bytes())
