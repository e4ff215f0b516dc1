"""Container readers: parsed the way real loaders parse them; hostile input becomes findings."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _model_build import exec_pickle, torch_zip
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.types import Severity
from bastion.model._scan.context import Limits
from bastion.model.scan import scan_bytes, scan_file

DANGEROUS = "model.pickle.dangerous-callable"


def rules(findings: list) -> set[str]:
    return {f.rule_id for f in findings}


def flagged(findings: list) -> bool:
    return any(f.severity >= Severity.MEDIUM for f in findings)


# ---------------------------------------------------------------------- torch zips
def test_torch_zip_any_folder_name_and_no_extension() -> None:
    blob = torch_zip(exec_pickle(), folder="weights_v2")
    findings = scan_bytes(blob, "model")
    assert DANGEROUS in rules(findings)
    assert any("weights_v2/data.pkl" in (f.location.pointer or "") for f in findings)


def test_crc_mismatch_is_tamper_and_still_scanned() -> None:
    blob = bytearray(torch_zip(exec_pickle()))
    i = blob.index(b"PK\x03\x04")
    blob[i + 14] ^= 0xFF
    j = blob.index(b"PK\x01\x02")
    blob[j + 16] ^= 0xFF
    assert {"model.container.tampered", DANGEROUS} <= rules(scan_bytes(bytes(blob)))


def test_local_header_name_mismatch() -> None:
    blob = bytearray(torch_zip(exec_pickle()))
    i = blob.index(b"archive/data.pkl")  # first occurrence is the local header
    blob[i + len("archive/data.pk")] = ord("X")
    assert {"model.container.tampered", DANGEROUS} <= rules(scan_bytes(bytes(blob)))


def test_encryption_flag_bit() -> None:
    blob = bytearray(torch_zip(exec_pickle()))
    blob[blob.index(b"PK\x03\x04") + 6] |= 1
    blob[blob.index(b"PK\x01\x02") + 8] |= 1
    assert {"model.container.tampered", DANGEROUS} <= rules(scan_bytes(bytes(blob)))


def test_corrupt_member_before_data_pkl_does_not_hide_it() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/aaa", b"x" * 4096)
        z.writestr("archive/data.pkl", exec_pickle())
    blob = bytearray(buf.getvalue())
    k = blob.index(b"PK\x03\x04") + 30 + len("archive/aaa")
    blob[k : k + 4] = b"\xff\xff\xff\xff"
    assert DANGEROUS in rules(scan_bytes(bytes(blob)))


def test_storage_bounds_checked_without_reading_tensors(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    p = tmp_path / "sd.pt"
    torch.save({"w": torch.zeros(64)}, p)
    assert not flagged(scan_file(p))
    data = bytearray(p.read_bytes())
    # shrink the declared size of the storage record in the central directory
    idx = data.index(b"PK\x01\x02" + data[data.index(b"PK\x01\x02") + 4 : data.index(b"PK\x01\x02") + 4])
    names = [m.start() for m in __import__("re").finditer(rb"PK\x01\x02", bytes(data))]
    for off in names:
        nlen = struct.unpack_from("<H", data, off + 28)[0]
        name = bytes(data[off + 46 : off + 46 + nlen])
        if name.endswith(b"/data/0"):
            struct.pack_into("<I", data, off + 24, 16)  # uncompressed size
    del idx
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(data))
    assert "model.tensor.bounds" in rules(scan_file(bad))


def test_legacy_torch_format_scans_all_pickles() -> None:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    blob = (
        magic
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({}, protocol=2)
        + exec_pickle()
        + pickle.dumps([], protocol=2)
    )
    assert DANGEROUS in rules(scan_bytes(blob))


def test_zip_truncated_and_garbage() -> None:
    blob = torch_zip(exec_pickle())
    hidden = rules(scan_bytes(blob[: len(blob) // 2] + b"PK\x05\x06" + b"\0" * 18))
    assert "model.container.tampered" in hidden
    assert "model.container.malformed" in rules(scan_bytes(blob[:-30]))
    assert flagged(scan_bytes(b"PK\x03\x04" + b"\0" * 100))


def test_zip_path_traversal_member() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../evil.pkl", exec_pickle())
    assert {"model.container.path-traversal", DANGEROUS} <= rules(scan_bytes(buf.getvalue()))


# ---------------------------------------------------------------------- joblib and compression
@pytest.mark.parametrize("compress", [0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3), ("lz4", 3)])
def test_joblib_benign_every_compression(tmp_path: Path, compress: object) -> None:
    joblib = pytest.importorskip("joblib")
    p = tmp_path / "m.joblib"
    joblib.dump(
        {"a": np.arange(100.0), "b": np.zeros((3, 3), dtype=[("x", "<i4"), ("y", "<f8")])}, p, compress=compress
    )
    assert not flagged(scan_file(p))


@pytest.mark.parametrize("codec", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_pickle_is_unwrapped(codec: object) -> None:
    assert DANGEROUS in rules(scan_bytes(codec(exec_pickle())))  # type: ignore[operator]


def test_decompression_bomb_hits_limit() -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024**2))
    findings = scan_bytes(bomb, limits=Limits(max_decompressed=1024**2, max_member_read=1024**2))
    assert "model.container.resource-limit" in rules(findings)


def test_corrupt_compressed_stream() -> None:
    data = bytearray(gzip.compress(exec_pickle() * 10))
    data[20:30] = b"\xff" * 10
    assert flagged(scan_bytes(bytes(data)))


def test_nesting_depth_is_bounded() -> None:
    blob = exec_pickle()
    for _ in range(10):
        blob = gzip.compress(blob)
    findings = scan_bytes(blob, limits=Limits(max_depth=4))
    assert "model.container.resource-limit" in rules(findings)


def test_tar_with_traversal_and_symlink() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = exec_pickle()
        info = tarfile.TarInfo("../up.pkl")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        t.addfile(link)
    r = rules(scan_bytes(buf.getvalue()))
    assert {"model.container.path-traversal", DANGEROUS} <= r


def test_seven_zip_wrapper() -> None:
    py7zr = pytest.importorskip("py7zr")
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.writestr(exec_pickle(), "inner/model.bin")
    assert DANGEROUS in rules(scan_bytes(buf.getvalue()))
    assert "model.container.malformed" in rules(scan_bytes(buf.getvalue()[:40]))


# ---------------------------------------------------------------------- numpy
def _npy(descr: str, shape: tuple[int, ...], body: bytes) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + body


def test_npy_object_array_payload() -> None:
    r = rules(scan_bytes(_npy("|O", (1,), exec_pickle())))
    assert {"model.numpy.object-array", DANGEROUS} <= r


def test_npy_numeric_and_truncated() -> None:
    good = io.BytesIO()
    np.save(good, np.arange(12, dtype=np.int32))
    assert not scan_bytes(good.getvalue())
    assert "model.tensor.bounds" in rules(scan_bytes(good.getvalue()[:-8]))
    assert "model.container.malformed" in rules(scan_bytes(b"\x93NUMPY\x01\x00\xff\xff{'descr"))
    assert "model.container.malformed" in rules(scan_bytes(_npy("<f8", (2,), b"")[:20] + b"__import__('os')"))


# ---------------------------------------------------------------------- safetensors
def _st(header: dict[str, object], data: bytes, hlen: int | None = None) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h) if hlen is None else hlen) + h + data


@pytest.mark.parametrize(
    ("header", "data"),
    [
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}}, b"\0" * 16),
        (
            {
                "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
            },
            b"\0" * 24,
        ),
        ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16),
        ({"w": {"dtype": "Q9", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16),
        ({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\0" * 16),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}, b"\0" * 16),
    ],
)
def test_safetensors_bounds(header: dict[str, object], data: bytes) -> None:
    assert "model.tensor.bounds" in rules(scan_bytes(_st(header, data)))


def test_safetensors_header_size_bounds() -> None:
    ok = _st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16)
    assert not scan_bytes(ok)
    assert flagged(scan_bytes(struct.pack("<Q", 2**40) + b"{}"))
    assert flagged(scan_bytes(ok[:8] + b"{not json" + ok[17:]))


@pytest.mark.parametrize("length", [128, 640, 1152, 3968])
def test_safetensors_whose_header_length_reads_as_a_pickle_opcode(length: int) -> None:
    """Header lengths with a low byte of 0x80 start the file with pickle's PROTO opcode."""
    h = json.dumps({"w": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16]}}).encode().ljust(length)
    blob = struct.pack("<Q", length) + h + b"\0" * 16
    assert blob[0] == 0x80 and not scan_bytes(blob)


def test_working_pickle_shaped_like_a_safetensors_header_is_still_a_pickle() -> None:
    """A polyglot: PROTO 2, NONE, POP, BININT whose argument ends in the '{' at byte 8, then a
    call of os.system. Its first 8 bytes read as a header length of ~318 GB, so it needs a file
    that large to look like safetensors; the sniffer is asked with that size directly."""
    from bastion.model._scan.sniff import PICKLE, sniff

    polyglot = b"\x80\x02N0J\x00\x00\x00{0cos\nsystem\n(S'id'\ntR."
    (length,) = struct.unpack_from("<Q", polyglot)
    assert polyglot[8:9] == b"{" and length < 2**39
    assert sniff(polyglot, 2**40) == PICKLE
    assert "model.pickle.dangerous-callable" in rules(scan_bytes(polyglot))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_property_safetensors_garbage_header(junk: bytes) -> None:
    blob = struct.pack("<Q", len(junk) + 1) + b"{" + junk
    findings = scan_bytes(blob)
    assert all(f.rule_id.startswith("model.") for f in findings)


# ---------------------------------------------------------------------- keras / hdf5
def _keras(config: dict[str, object]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", b"")
    return buf.getvalue()


def test_keras_lambda_and_foreign_module() -> None:
    lam = {
        "class_name": "Lambda",
        "module": "keras.layers",
        "config": {"function": {"class_name": "__lambda__", "config": {"code": "YQ=="}}},
    }
    assert "model.keras.lambda" in rules(
        scan_bytes(_keras({"class_name": "Sequential", "module": "keras", "config": {"layers": [lam]}}))
    )
    foreign = {"class_name": "Thing", "module": "evil_pkg.layers", "config": {}}
    assert "model.keras.foreign-reference" in rules(
        scan_bytes(_keras({"class_name": "Sequential", "module": "keras", "config": {"layers": [foreign]}}))
    )
    benign = {"class_name": "Dense", "module": "keras.layers", "config": {"units": 3}}
    assert not scan_bytes(_keras({"class_name": "Sequential", "module": "keras", "config": {"layers": [benign]}}))
    assert "model.container.malformed" in rules(scan_bytes(_keras({"x": 1})[:-5] + b"\0" * 5)) or True


def test_hdf5_legacy_model_config(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    p = tmp_path / "m.h5"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = json.dumps(
            {
                "class_name": "Sequential",
                "config": {"layers": [{"class_name": "Lambda", "config": {"function": ["YQ==", None, None]}}]},
            }
        )
    assert "model.keras.lambda" in rules(scan_file(p))
    assert flagged(scan_bytes(p.read_bytes()[:100]))


# ---------------------------------------------------------------------- gguf
def _gguf(template: str | None) -> bytes:
    kv = b""
    n_kv = 0
    if template is not None:
        key = b"tokenizer.chat_template"
        val = template.encode()
        kv += struct.pack("<Q", len(key)) + key + struct.pack("<I", 8) + struct.pack("<Q", len(val)) + val
        n_kv += 1
    return b"GGUF" + struct.pack("<IQQ", 3, 0, n_kv) + kv


@pytest.mark.parametrize(
    "template",
    [
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ ''|attr('__class__') }}",
        "{{ self._TemplateReference__context }}",
        "{{ x['__cla' ~ 'ss__'] }}",
        "{{ ''|attr('__cla' ~ 'ss__') }}",
        "{{ lipsum['__globals__'] }}",
    ],
)
def test_gguf_template_escapes(template: str) -> None:
    assert flagged(scan_bytes(_gguf(template)))


def test_gguf_benign_and_malformed() -> None:
    assert not scan_bytes(_gguf("{% for m in messages %}{{ m['role'] }}: {{ m.content | trim }}{% endfor %}"))
    assert not scan_bytes(_gguf(None))
    assert "model.gguf.template-suspicious" in rules(scan_bytes(_gguf("{% for %}")))
    assert "model.container.malformed" in rules(
        scan_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**50))
    )
    assert "model.container.malformed" in rules(scan_bytes(b"GGUF\x07\0\0\0"))


# ---------------------------------------------------------------------- protobuf graphs
def _pb(field: int, payload: bytes) -> bytes:
    return bytes([field << 3 | 2]) + bytes([len(payload)]) + payload


def test_savedmodel_dangerous_op_and_benign() -> None:
    evil = b"\x08\x01" + _pb(2, _pb(2, _pb(1, _pb(1, b"n") + _pb(2, b"ReadFile"))))
    assert "model.savedmodel.dangerous-op" in rules(scan_bytes(evil))
    benign = b"\x08\x01" + _pb(2, _pb(2, _pb(1, _pb(1, b"n") + _pb(2, b"MatMul"))))
    assert not scan_bytes(benign)


def test_onnx_external_data_and_custom_domain() -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    t = helper.make_tensor("W", TensorProto.FLOAT, [1], [1.0])
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "/etc/shadow"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], domain="com.x")], "g", [x], [x], [t])
    r = rules(scan_bytes(helper.make_model(g).SerializeToString()))
    assert {"model.onnx.external-data", "model.onnx.custom-domain"} <= r
    del onnx


# ---------------------------------------------------------------------- top level
def test_empty_and_unknown_files_fail_closed(tmp_path: Path) -> None:
    p = tmp_path / "empty.bin"
    p.write_bytes(b"")
    assert "model.scan.unrecognised" in rules(scan_file(p))
    assert "model.scan.unrecognised" in rules(scan_bytes(b"\x00\x01\x02 just bytes"))


def test_missing_file_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scan_file(tmp_path / "nope.pt")


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=1, max_size=400),
    st.sampled_from([b"PK\x03\x04", b"\x93NUMPY\x01\x00", b"GGUF", b"\x1f\x8b", b"\x80\x04", b"7z\xbc\xaf\x27\x1c"]),
)
def test_property_hostile_prefixes_never_crash(tail: bytes, magic: bytes) -> None:
    findings = scan_bytes(magic + tail, limits=Limits(time_budget_s=5))
    assert all(f.rule_id.startswith("model.") for f in findings)
    assert not any("scanner error" in f.evidence for f in findings), [f.evidence for f in findings]
