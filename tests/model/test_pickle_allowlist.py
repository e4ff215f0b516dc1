"""Exact-name allowlisting: no prefixes, no "any attribute of an allowed class", no reuse of getattr results.

Every malicious pickle here is built from raw opcodes; nothing is unpickled. The table checks
at the end import the installed (trusted) libraries to confirm each listed name and alias is
the object the loader would find, which the scanner itself never does.
"""

from __future__ import annotations

import importlib
import pickle
import zoneinfo

import pytest
from _model_build import glob, p2, p4, u

from bastion.core.types import Severity
from bastion.model._scan._pickle import policy
from bastion.model._scan._pickle.allowlist import ALIASES, ALLOWED, SKLEARN
from bastion.model.scan import scan_bytes

ALLOWED_V = policy.Verdict.ALLOWED


def _flagged(blob: bytes) -> list:
    return [f for f in scan_bytes(blob, "t.pkl") if f.severity >= Severity.MEDIUM]


# Real re-exports found in the installed libraries: each is importable under an allowed package
# and was admitted by the old "capitalised name under an allowed prefix" rule.
@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn.datasets._rcv1", "GzipFile"),  # gzip.GzipFile: opens and writes files
        ("sklearn.datasets._covtype", "GzipFile"),
        ("sklearn.callback._transport", "Client"),  # multiprocessing.connection.Client: socket client
        ("sklearn.callback._transport", "Listener"),
        ("sklearn.callback._progressbar", "Thread"),  # threading.Thread(target=...)
        ("sklearn.datasets._base", "NamedTemporaryFile"),
        ("sklearn.datasets._openml", "TemporaryDirectory"),
        ("sklearn.datasets._openml", "Request"),
        ("sklearn.datasets._lfw", "Memory"),  # joblib.Memory: caches to disk
        ("torch.nn.modules.activation", "F"),  # the torch.nn.functional module, not a layer
        ("torch.nn.modules.conv", "F"),
        ("pandas.io.pickle", "Foo"),
        ("numpy._core.records", "Evil"),
    ],
)
def test_reexported_non_model_classes_are_not_allowed(module: str, name: str) -> None:
    assert policy.classify(module, name) is not ALLOWED_V
    assert _flagged(p2(glob(module, name) + b")R"))


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn_extra", "Backdoor"),  # a module the payload wrote into the working directory
        ("sklearnx", "Backdoor"),
        ("pandas.arrays_evil", "Backdoor"),  # old rule: startswith("pandas.arrays")
        ("scipy.sparse_evil", "csr_matrix"),  # old rule: startswith("scipy.sparse") + sparse name
        ("scipy.stats._distn_infrastructure_evil", "Backdoor"),
        ("sklearn.evil", "_reconstruct"),  # old rule: any sklearn.* function named like an unpickler
        ("sklearn.evil", "Backdoor"),
        ("torch.nn.modules.evil", "Backdoor"),
        ("numpy.dtypes_evil", "Backdoor"),
    ],
)
def test_names_that_merely_start_like_allowed_ones_are_not_allowed(module: str, name: str) -> None:
    assert policy.classify(module, name) is not ALLOWED_V
    assert _flagged(p4(u(module) + u(name) + b"\x93)R"))


@pytest.mark.parametrize(
    ("cls", "attr"),
    [
        (("pathlib", "Path"), "write_text"),
        (("pathlib", "PosixPath"), "write_bytes"),
        (("pathlib", "Path"), "unlink"),
        (("collections", "OrderedDict"), "fromkeys"),
        (("pandas.core.frame", "DataFrame"), "eval"),
        (("sklearn.tree._classes", "DecisionTreeClassifier"), "fit"),
    ],
)
def test_public_method_of_allowed_class_is_flagged(cls: tuple[str, str], attr: str) -> None:
    # getattr(AllowedClass, 'method')(...): a method is not allowed because its class is.
    blob = p2(glob("builtins", "getattr") + glob(*cls) + u(attr) + b"\x86R" + u("x") + u("y") + b"\x86R")
    assert _flagged(blob)
    # the same reached as one dotted protocol-4 name
    assert _flagged(p4(u(cls[0]) + u(f"{cls[1]}.{attr}") + b"\x93" + u("x") + b"\x85R"))


def test_getattr_result_reused_as_callable_through_memo_is_flagged() -> None:
    # getattr(pathlib.Path, 'write_text') is memoized, popped, fetched back and called.
    blob = p2(
        glob("builtins", "getattr")
        + glob("pathlib", "Path")
        + u("write_text")
        + b"\x86R"
        + b"q\x00"  # BINPUT 0
        + b"0"  # POP
        + b"h\x00"  # BINGET 0
        + glob("pathlib", "Path")
        + u("/tmp/x")
        + b"\x85R"
        + u("payload")
        + b"\x86R"
    )
    findings = _flagged(blob)
    assert findings
    assert any("write_text" in f.evidence for f in findings)


def test_listed_bound_method_may_be_referenced_but_not_called() -> None:
    # getattr(<randint_gen instance>, '_entropy') is how scipy's vectorize(self._entropy) pickles;
    # the instance's state could shadow the name, so calling the result is still a finding.
    inst = glob("scipy.stats._discrete_distns", "randint_gen") + b")\x81"
    ref = glob("builtins", "getattr") + inst + u("_entropy") + b"\x86R"
    assert not _flagged(p2(glob("numpy", "vectorize") + ref + b"\x85R"))
    assert _flagged(p2(ref + u("x") + b"\x85R"))


def test_torch_function_dispatch_names_are_dangerous() -> None:
    assert policy.classify("torch.overrides", "handle_torch_function") is policy.Verdict.DANGEROUS
    assert policy.classify("torch.nn.functional", "handle_torch_function") is policy.Verdict.DANGEROUS
    assert policy.classify("torch._C", "_disabled_torch_function_impl") is policy.Verdict.DANGEROUS


def test_exact_attribute_listed_by_name_is_allowed() -> None:
    # ZoneInfo pickles as getattr(ZoneInfo, '_unpickle')(key, 1): listed exactly, so it stays clean.
    assert not _flagged(pickle.dumps(zoneinfo.ZoneInfo("UTC"), protocol=4))


@pytest.mark.parametrize(
    "qualified",
    [
        "pandas.DataFrame",  # pandas 3 pickles the public name
        "pandas.core.frame.DataFrame",  # pandas 2 pickles the defining module
        "pandas.core.indexes.range.RangeIndex",
        "pandas.arrays.ArrowStringArray",
        "pandas.core.indexes.datetimes._new_DatetimeIndex",
        "pandas._libs.tslibs.offsets.Day",
        "pytz._p",
    ],
)
def test_pandas_names_of_both_major_versions_are_allowed(qualified: str) -> None:
    module, name = qualified.rsplit(".", 1)
    assert policy.classify(module, name) is ALLOWED_V


def test_reexport_and_definition_resolve_to_one_name() -> None:
    assert policy.canonical("sklearn.tree", "DecisionTreeClassifier") == "sklearn.tree._classes.DecisionTreeClassifier"
    assert policy.classify("sklearn.tree", "DecisionTreeClassifier") is ALLOWED_V
    assert policy.classify("sklearn.tree._classes", "DecisionTreeClassifier") is ALLOWED_V
    assert policy.classify("torch.nn", "Linear") is ALLOWED_V
    assert policy.classify("numpy.ma.core", "MaskedArray") is ALLOWED_V


# ---------------------------------------------------------------------- the tables themselves
def _resolve(qualified: str) -> object:
    parts = qualified.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(qualified)


_OPTIONAL = ("pandas.", "pyarrow.", "xgboost.", "lightgbm.", "sklearn.externals.", "numpy.core.")


@pytest.mark.parametrize("qualified", sorted(q for q in ALLOWED if q.startswith(("sklearn.", "torch.nn.", "scipy."))))
def test_every_generated_entry_exists_in_the_installed_library(qualified: str) -> None:
    if qualified.startswith(_OPTIONAL):
        pytest.skip("legacy module path absent from the installed version")
    pytest.importorskip(qualified.split(".")[0])
    assert _resolve(qualified) is not None


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_every_alias_is_the_same_object_as_its_canonical_name(alias: str) -> None:
    if alias.startswith(_OPTIONAL) or (alias.startswith("scipy.sparse.") and alias.count(".") == 3):
        pytest.skip("legacy module path absent from the installed version")
    assert ALIASES[alias] in ALLOWED
    assert _resolve(alias) is _resolve(ALIASES[alias])


def test_every_sklearn_estimator_is_listed() -> None:
    utils = pytest.importorskip("sklearn.utils")
    listed = {f"{m}.{n}" for m, names in SKLEARN.items() for n in names}
    missing = [
        f"{c.__module__}.{c.__qualname__}"
        for _, c in utils.all_estimators()
        if f"{c.__module__}.{c.__qualname__}" not in listed
    ]
    assert not missing, f"add to allowlist.SKLEARN: {missing}"
