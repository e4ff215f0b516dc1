"""The shipped n-gram name model: safe loading, unseen names found, title-case phrases left alone."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.data import detect
from bastion.data._detect.model import Entity
from bastion.data._detect.namemodel import BUCKET_BITS, NameModel, features, load_model, read_model
from bastion.data._detect.names import _TOKEN, NamesLayer


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


WORDS = ["Maria", "Gonzalez", "Berlin", "Lake", "Dear", "Mr.", "Dr", "Anna-Lena", "Smith", "The", "Quarterly", "Report",
         "Oluwaseun", "Adeyemi", "Springfield", "Newtonville", "Customer", "Paris", "Siobhan", "New", "York", "J.",
         "in", "from", "dear", "name:", "called", "and", "Kubernetes", ",", ".", "\n"]  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join))
def test_lone_token_fast_path_matches_the_full_rules(text: str) -> None:
    layer = NamesLayer.load()
    assert layer is not None
    fast = [(e.entity_type, e.start, e.end, e.score) for e in layer.find(text)]
    # the reference: every run, lone tokens included, through the full place/gazetteer/model rules

    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    out: list[Entity] = []
    i = 0
    while i < len(tokens):
        j = i + 1
        while j < len(tokens) and tokens[j][0] - tokens[j - 1][1] == 1 and text[tokens[j - 1][1]] == " ":
            j += 1
        layer._run(text, tokens[i:j], out, 0)
        i = j
    assert fast == [(e.entity_type, e.start, e.end, e.score) for e in out]
