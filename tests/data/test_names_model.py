"""The shipped n-gram name model: safe loading, unseen names found, title-case phrases left alone."""

from __future__ import annotations

import io

import numpy as np
import pytest

from bastion.data import detect
from bastion.data._detect.namemodel import BUCKET_BITS, NameModel, features, load_model, read_model
from bastion.data._detect.names import NamesLayer


def _persons(text: str) -> list[str]:
    return [text[e.start : e.end] for e in detect(text) if e.entity_type == "PERSON"]


def test_shipped_model_loads_as_plain_arrays() -> None:
    m = load_model()
    assert m is not None and len(m.weights) == 1 << BUCKET_BITS
    assert m.prob("Oluwaseun") > 0.5 > m.prob("Quarterly")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Meeting with Oluwaseun Adeyemi tomorrow.", "Oluwaseun Adeyemi"),
        ("Patient Aoife Ni Bhriain was discharged.", "Aoife Ni Bhriain"),
        ("Dear Siobhan, thanks for the update.", "Siobhan"),
    ],
)
def test_names_outside_the_gazetteer_are_found(text: str, name: str) -> None:
    layer = NamesLayer.load()
    assert layer is not None
    assert not any(part in layer.first for part in name.split())  # the gazetteer alone would miss it
    assert name in _persons(text)


@pytest.mark.parametrize(
    "text",
    [
        "Please review the Quarterly Revenue Report before Monday.",
        "We use Machine Learning Pipelines at scale.",
        "Meeting with Engineering Leadership tomorrow.",
        "Thanks, Data Platform Team",
        "Running Kubernetes Cluster Autoscaler on the nodes.",
        "Install Visual Studio Code first.",
        "Signed by Network Security Group.",
    ],
)
def test_title_case_phrases_are_not_people(text: str) -> None:
    assert _persons(text) == []


def test_refuses_pickles_and_malformed_archives() -> None:
    buf = io.BytesIO()
    np.savez(buf, weights=np.array([object()], dtype=object), bias=np.float32(0), bits=np.int32(1), version=np.int32(1))
    buf.seek(0)
    assert read_model(buf) is None  # an object array needs pickle: refused
    assert read_model(io.BytesIO(b"PK\x03\x04 truncated")) is None
    assert read_model(io.BytesIO(b"")) is None
    wrong = io.BytesIO()
    np.savez(wrong, weights=np.zeros(8, dtype=np.float16), bias=np.float32(0), bits=np.int32(4), version=np.int32(1))
    wrong.seek(0)
    assert read_model(wrong) is None  # 8 weights for 2**4 buckets
    with pytest.raises(ValueError):
        NameModel.from_arrays(np.zeros((2, 2)), 0.0, 1)


def test_features_are_stable_and_bounded() -> None:
    f = features("Anna-Lena")
    assert f == features("anna-lena") and all(0 <= i < 1 << BUCKET_BITS for i in f)
    assert features("") and features("x" * 500)
