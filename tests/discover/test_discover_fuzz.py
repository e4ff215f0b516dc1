"""Property tests: every sniffer survives arbitrary, truncated and mutated input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.discover import identify
from bastion.discover._sniff import sniff
from bastion.discover._sniff._base import Ctx
from bastion.discover._sniff._folders import identify_folder
from bastion.discover._types import WalkItem

MAGICS = [
    b"",
    b"GGUF\x03\x00\x00\x00",
    b"\x93NUMPY\x01\x00",
    b"PK\x03\x04",
    b"\x89HDF\r\n\x1a\n",
    b"IxF2",
    b"ARROW1\x00\x00",
    b"\xff\xff\xff\xff",
    b"PAR1",
    b"CBM1",
    b"binf",
    b"SQLite format 3\x00",
    b"\x08\x01\x12",
    b"\x08\x07\x12",
    b"\x80\x02",
    b"\x80\x04\x95",
    b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.",
    b"\x1f\x8b\x08",
    b"x\x9c",
    b"BZh91AY&SY",
    b"\xfd7zXZ\x00",
    b"]\x00\x00\x80\x00",
    b"\x04\x22\x4d\x18",
    b"\x28\xb5\x2f\xfd",
    b"ZF0x",
    b"(dp0\n",
    b"{",
    b"[",
    b"tree\nversion=",
    b"---\n",
    b"You are ",
    b"a,b\n",
    b"\x10\x00\x00\x00\x00\x00\x00\x00{",
    b"FEA1",
    b"\x00\x00\x00\x00TFL3",
]


def _ctx(data: bytes, tmp: Path | None = None) -> Ctx:
    return Ctx("x", tmp, len(data), data[:65536])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(magic=st.sampled_from(MAGICS), body=st.binary(max_size=512))
def test_magic_prefixed_garbage_never_raises(magic: bytes, body: bytes) -> None:
    asset = sniff(_ctx(magic + body))
    if asset is not None:
        assert 0.0 <= asset.confidence <= 1.0 and asset.format


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600))
def test_text_never_raises(text: str) -> None:
    sniff(_ctx(text.encode("utf-8", "surrogatepass")))


@settings(max_examples=100, deadline=None)
@given(
    members=st.lists(
        st.sampled_from(
            [
                "config.json",
                "MLmodel",
                "saved_model.pb",
                "model.safetensors",
                "dataset_info.json",
                "state.json",
                "chroma.sqlite3",
                "_versions/",
                "data/",
                "docstore.json",
                "index_store.json",
                "dataset_dict.json",
            ]
        ),
        unique=True,
    ),
    head=st.binary(max_size=256),
)
def test_folder_identification_never_raises(members: list[str], head: bytes) -> None:
    identify_folder("d", 10, head, tuple(members))


@pytest.fixture(scope="module")
def samples(format_tree: tuple[Path, dict[str, object]]) -> list[bytes]:
    root, expected = format_tree
    return [(root / rel).read_bytes() for rel in expected if (root / rel).is_file()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncated_and_mutated_real_files_never_raise(
    samples: list[bytes], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    blob = data.draw(st.sampled_from(samples))
    cut = data.draw(st.integers(0, len(blob)))
    mutated = bytearray(blob[:cut])
    for _ in range(data.draw(st.integers(0, 4))):
        if mutated:
            i = data.draw(st.integers(0, len(mutated) - 1))
            mutated[i] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("fuzz") / "f"
    path.write_bytes(bytes(mutated))
    # the sniffers themselves, not just `identify`'s safety net, must cope
    found = sniff(Ctx("f", path, len(mutated), bytes(mutated[:65536])))
    if found is not None:
        assert 0.0 <= found.confidence <= 1.0
    asset = identify(WalkItem(path, "f", len(mutated), 0.0, bytes(mutated[:65536])))
    assert asset is None or asset.format != "unknown"
