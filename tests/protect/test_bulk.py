"""The vectorised tokenization helpers equal their per-value definitions."""

from __future__ import annotations

import base64
import os

import numpy as np
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.data._protect.bulk import cmac_many, records, token_texts

KEY = bytes(range(32))


def _cmac(key: bytes, msg: bytes) -> bytes:
    c = CMAC(algorithms.AES(key))
    c.update(msg)
    return c.finalize()


def test_cmac_nist_sp800_38b_aes256_examples() -> None:
    """NIST SP 800-38B, appendix D.3 (AES-256): the empty message, one block, 40 bytes, four blocks."""
    key = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    msg = bytes.fromhex(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
    )
    expected = {
        0: "028962f61b7bf89efc6b551f4667d983",
        16: "28a7023f452e8f82bd4bf28d8c37c35c",
        40: "aaf3d8f1de5640c232f5b169b9c911e6",
        64: "e1992190549f6ed5696a2c056c315410",
    }
    got = cmac_many(key, [msg[:n] for n in expected])
    assert [row.tobytes().hex() for row in got] == list(expected.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=40))
def test_cmac_many_equals_cmac(messages: list[bytes]) -> None:
    got = cmac_many(KEY, messages)
    assert got.shape == (len(messages), 16)
    assert [row.tobytes() for row in got] == [_cmac(KEY, m) for m in messages]


def test_cmac_many_mixed_lengths_keep_order() -> None:
    messages = [os.urandom(n) for n in (0, 1, 15, 16, 17, 31, 32, 33, 1000, 5, 16, 0)]
    assert [row.tobytes() for row in cmac_many(KEY, messages)] == [_cmac(KEY, m) for m in messages]


@given(st.integers(min_value=0, max_value=50))
def test_token_texts_equal_per_token_encoding(n: int) -> None:
    raw = os.urandom(18 * n)
    want = ["tok_" + base64.urlsafe_b64encode(raw[i : i + 18]).decode().rstrip("=") for i in range(0, len(raw), 18)]
    assert token_texts(raw, "tok_", 18) == want


@given(st.lists(st.text(max_size=30), min_size=1, max_size=30))
def test_records_equal_concatenation(values: list[str]) -> None:
    encoded = [v.encode("utf-8") for v in values]
    tokens = np.frombuffer(os.urandom(18 * len(values)), np.uint8).reshape(len(values), 18)
    ends, body = records(tokens, encoded)
    want = [tokens[i].tobytes() + e for i, e in enumerate(encoded)]
    assert body == b"".join(want)
    assert ends.tolist() == np.cumsum([len(w) for w in want]).tolist()
