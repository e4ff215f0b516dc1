"""Genuine artifacts saved by the real libraries must scan clean (false-positive regressions).

These are our own benign objects, so creating them with joblib.dump / pickle.dump / torch.save
is fine; the scanner still never loads them.
"""

from __future__ import annotations

import argparse
import io
import pickle
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bastion.core.types import Severity
from bastion.model.scan import scan_bytes

sklearn = pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")


def _serious(blob: bytes, name: str) -> list[Any]:
    return [f for f in scan_bytes(blob, name) if f.severity >= Severity.MEDIUM]


def _xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    return X, (X[:, 0] > 0).astype(int)


def _knn(algorithm: str) -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(algorithm=algorithm).fit(*_xy())


def _select_k_best() -> Any:
    from sklearn.feature_selection import SelectKBest

    return SelectKBest(k=2).fit(*_xy())  # default score_func: f_classif


def _hist_gb() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=5).fit(*_xy())


def _calibrated() -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    return CalibratedClassifierCV(LogisticRegression(), cv=2).fit(*_xy())


def _grid(scoring: Any) -> Callable[[], Any]:
    def make() -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV

        return GridSearchCV(LogisticRegression(), {"C": [0.5, 1.0]}, scoring=scoring, cv=2).fit(*_xy())

    return make


def _make_scorer() -> Any:
    from sklearn.metrics import f1_score, make_scorer

    return _grid(make_scorer(f1_score))()


def _function_transformer_clip() -> Any:
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(np.clip, kw_args={"a_min": -1.0, "a_max": 1.0}).fit(_xy()[0])


def _gradient_boosting() -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=3).fit(*_xy())  # estimators_ is a joblib object array


def _kbins() -> Any:
    from sklearn.preprocessing import KBinsDiscretizer

    return KBinsDiscretizer(n_bins=3).fit(_xy()[0])  # bin_edges_ is a joblib object array


def _randomized_search_scipy() -> Any:
    from scipy import stats
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RandomizedSearchCV

    space = {"C": stats.loguniform(1e-2, 1e2), "tol": stats.uniform(0, 1), "max_iter": stats.randint(50, 100)}
    return RandomizedSearchCV(LogisticRegression(), space, n_iter=2, cv=2, random_state=0).fit(*_xy())


ARTIFACTS: dict[str, Callable[[], Any]] = {
    "randomized_search_scipy_distributions": _randomized_search_scipy,
    "gradient_boosting_object_array": _gradient_boosting,
    "kbins_discretizer_object_array": _kbins,
    "knn_kd_tree": lambda: _knn("kd_tree"),
    "knn_ball_tree": lambda: _knn("ball_tree"),
    "select_k_best_f_classif": _select_k_best,
    "hist_gradient_boosting": _hist_gb,
    "calibrated_classifier_cv": _calibrated,
    "grid_search_accuracy": _grid("accuracy"),
    "grid_search_make_scorer": _make_scorer,
    "function_transformer_np_clip": _function_transformer_clip,
    "numpy_masked_array": lambda: np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),
    "argparse_namespace": lambda: {"args": argparse.Namespace(lr=0.1, epochs=3), "step": 7},
}


@pytest.mark.parametrize("how", ["joblib", "pickle"])
@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_sklearn_and_numpy_artifacts_scan_clean(name: str, how: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = ARTIFACTS[name]()
    if how == "joblib":
        buf = io.BytesIO()
        joblib.dump(obj, buf)
        blob, fname = buf.getvalue(), f"{name}.joblib"
    else:
        blob, fname = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), f"{name}.pkl"
    assert not _serious(blob, fname)


def test_masked_array_names_resolve_to_allowed_callables() -> None:
    # NumPy 2 writes numpy.ma.core._mareconstruct(numpy.ma.MaskedArray, ...); both must be allowed.
    blob = pickle.dumps(np.ma.masked_array([1, 2], mask=[1, 0]), protocol=2)
    assert b"_mareconstruct" in blob and b"MaskedArray" in blob
    assert not _serious(blob, "m.pkl")


def test_torch_whole_model_with_weight_norm_scans_clean() -> None:
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # weight_norm is deprecated in favour of parametrizations
        layer = torch.nn.utils.weight_norm(torch.nn.Linear(3, 2))
    model = torch.nn.Sequential(layer, torch.nn.ReLU())
    buf = io.BytesIO()
    torch.save(model, buf)
    assert not _serious(buf.getvalue(), "model.pt")


def test_torch_checkpoint_with_argparse_namespace_scans_clean() -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(3, 2)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(lr=0.1, arch="linear")}, buf)
    assert not _serious(buf.getvalue(), "ckpt.pt")


def test_pandas_frames_scan_clean() -> None:
    pd = pytest.importorskip("pandas")  # not in the dev venv; checked with pandas 2.3 and 3.0 when tables were built
    frame = pd.DataFrame(
        {
            "a": [1, 2, 3],
            "s": pd.array(["x", None, "z"], dtype="string"),
            "c": pd.Categorical(["u", "v", "u"]),
            "t": pd.date_range("2024-01-01", periods=3, tz="UTC"),
        },
        index=pd.RangeIndex(3),
    )
    for protocol in (2, 4, 5):
        assert not _serious(pickle.dumps(frame, protocol=protocol), "frame.pkl")
