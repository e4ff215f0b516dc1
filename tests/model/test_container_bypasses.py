"""Container bypasses: each technique ran code under the real loader while the scanner passed it.

Every sample is built from raw bytes (never by pickling live objects) and only scanned here;
`evals/model_scan/adversarial_containers.py` proves the payloads run under the real loaders.
"""

from __future__ import annotations

import io
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from _model_build import exec_pickle, glob, torch_zip, u

from bastion.core.types import Finding, Severity
from bastion.model._scan import sniff as S
from bastion.model._scan._pickle import analyser as A
from bastion.model._scan.context import Limits, ScanContext
from bastion.model.scan import _guarded, scan_bytes

DANGEROUS = "model.pickle.dangerous-callable"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


def fails(findings: list[Finding]) -> bool:
    """What `bastion scan-model` exits 1 on by default."""
    return any(f.severity >= Severity.HIGH for f in findings)


def exec_body(code: str = "pass") -> bytes:
    """Protocol-4 opcodes calling builtins.exec(code), without PROTO and without STOP."""
    return u("builtins") + u("exec") + b"\x93" + u(code) + b"\x85R"


def frame_pickle() -> bytes:
    body = exec_body() + b"."
    return b"\x95" + struct.pack("<Q", len(body)) + body


def npy(descr: str, shape: tuple[int, ...], body: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def object_npy() -> bytes:
    return npy("|O", (1,), exec_pickle())


def raw_zip(members: list[tuple[str, int, bytes, int, int, int]]) -> bytes:
    """A zip from already-compressed members: (name, method, payload, crc, usize, flags)."""
    out = bytearray()
    central = bytearray()
    for name, method, payload, crc, usize, flags in members:
        off = len(out)
        nb = name.encode()
        out += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, flags, method, 0, 0, crc, len(payload), usize, len(nb), 0
        )
        out += nb + payload
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, flags, method, 0, 0, crc, len(payload), usize,
            len(nb), 0, 0, 0, 0, 0, off,
        )  # fmt: skip
        central += nb
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + eocd)


# ---------------------------------------------------------------------- 1. pickles without a header
def test_frame_first_pickle_is_analysed() -> None:
    findings = scan_bytes(frame_pickle())
    assert DANGEROUS in rules(findings) and fails(findings)


def test_protocol0_pickle_with_a_long_first_string() -> None:
    blob = b"S'" + b"a" * 2000 + b"'\n0" + glob("os", "system") + b"(S'true'\ntR."
    assert DANGEROUS in rules(scan_bytes(blob))


def test_headerless_opcodes_without_frame() -> None:
    assert DANGEROUS in rules(scan_bytes(exec_body() + b"."))


def test_broken_headerless_pickle_still_reports_what_ran() -> None:
    findings = scan_bytes(exec_body() + b"\xff\xff")
    assert DANGEROUS in rules(findings)


def test_headerless_data_pkl_in_torch_zip() -> None:
    findings = scan_bytes(torch_zip(exec_body() + b"."))
    assert DANGEROUS in rules(findings)


def test_any_pkl_member_is_analysed_even_if_it_does_not_parse() -> None:
    findings = scan_bytes(torch_zip(b"\x80\x02K\x01.", **{"extra.pkl": b"\xff\xfe"}))
    assert "model.pickle.malformed" in rules(findings) and fails(findings)


def test_legacy_torch_with_headerless_magic_hides_nothing() -> None:
    magic = b"\x8a\x0a" + LEGACY_MAGIC.to_bytes(10, "little") + b"."
    proto = b"M\xe9\x03."
    sys_info = b"}."
    blob = magic + proto + sys_info + exec_body() + b"." + b"]." + b"\x00" * 64
    assert DANGEROUS in rules(scan_bytes(blob))


def test_legacy_torch_text_magic() -> None:
    blob = b"L%dL\n." % LEGACY_MAGIC + b"I1001\n." + b"}." + b"(" + glob("os", "system") + b"S'true'\ntR." + b"]."
    assert DANGEROUS in rules(scan_bytes(blob))


def test_back_to_back_pickle_without_header() -> None:
    assert DANGEROUS in rules(scan_bytes(b"\x80\x04K\x01." + exec_body() + b"."))


def test_csv_and_text_are_not_mistaken_for_pickles() -> None:
    for text in (b"id,amount\n1,10.5\n" * 50, b"hello world\n", b"\x00\x01\x02\x03" * 20):
        assert not any(f.rule_id.startswith("model.pickle") for f in scan_bytes(text))


# ---------------------------------------------------------------------- 2. safetensors header length
@pytest.mark.parametrize("length", [2**62, 2**40 + 5, 10**9])
def test_safetensors_absurd_header_length_fails(length: int) -> None:
    blob = struct.pack("<Q", length) + b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' + b"\0" * 4
    findings = scan_bytes(blob)
    assert "model.container.malformed" in rules(findings) and fails(findings)


def test_pickle_disguised_as_a_safetensors_length_is_analysed() -> None:
    # SHORT_BINUNICODE of 9 bytes whose zero bytes make a small safetensors length; '{' at offset 8
    pkl = b"\x8c\x09\x00\x00\x00\x00\x00\x00{xx0" + exec_body() + b"."
    assert DANGEROUS in rules(scan_bytes(pkl + b" " * 4000))


# ---------------------------------------------------------------------- 3. joblib compression
def test_lzma_alone_with_non_default_dictionary_size() -> None:
    filters = [{"id": lzma.FILTER_LZMA1, "dict_size": 0x18000}]
    blob = lzma.compress(exec_pickle(), format=lzma.FORMAT_ALONE, filters=filters)
    assert blob[:3] != b"\x5d\x00\x00"
    assert DANGEROUS in rules(scan_bytes(blob))


def test_second_xz_stream_is_read() -> None:
    blob = lzma.compress(b"\x80\x04K\x01.") + lzma.compress(b"\x80\x04K\x01." + exec_pickle())
    assert DANGEROUS in rules(scan_bytes(blob))


@pytest.mark.parametrize("level", [1, 6, 9])
def test_zlib_with_any_valid_flag_byte(level: int) -> None:
    stream = zlib.compressobj(level, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY)
    blob = stream.compress(exec_pickle()) + stream.flush()
    assert DANGEROUS in rules(scan_bytes(blob))
    assert S.sniff(b"\x78\x01junk", 10) == S.ZLIB and S.sniff(b"\x78\x02junk", 10) is None


@pytest.mark.parametrize("space", [b"", b" "])
def test_joblib_legacy_zf_format(space: bytes) -> None:
    data = exec_pickle()
    blob = b"ZF" + hex(len(data)).encode().ljust(19) + space + zlib.compress(data)
    findings = scan_bytes(blob)
    assert DANGEROUS in rules(findings)


def test_joblib_zf_with_a_lying_length_is_malformed() -> None:
    blob = b"ZF" + hex(3).encode().ljust(19) + zlib.compress(exec_pickle())
    assert {"model.container.malformed", DANGEROUS} <= rules(scan_bytes(blob))


# ---------------------------------------------------------------------- 4. zip members beyond the look-ahead
@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_DEFLATED])
def test_npz_member_with_any_zipfile_compression(method: int) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        z.writestr("w.npy", object_npy())
    assert DANGEROUS in rules(scan_bytes(buf.getvalue(), "model.npz"))


def test_deflate_member_opening_with_empty_stored_blocks() -> None:
    payload = object_npy()
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = b"\x00\x00\x00\xff\xff" * 20000 + comp.compress(payload) + comp.flush()
    blob = raw_zip([("w.npy", 8, body, zlib.crc32(payload), len(payload), 0)])
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert z.read("w.npy") == payload  # what np.load reads
    assert DANGEROUS in rules(scan_bytes(blob, "model.npz"))


def test_member_inflating_past_the_read_limit_fails() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("w.npy", npy("<f8", (20000,), b"\0" * 160000))
    findings = scan_bytes(buf.getvalue(), limits=Limits(max_member_read=4096))
    assert "model.container.resource-limit" in rules(findings) and fails(findings)


# ---------------------------------------------------------------------- 5. the data/ skip
def test_npz_cannot_hide_an_object_array_under_data() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data.pkl", b"\x80\x04K\x01.")
        z.writestr("data/w.npy", object_npy())
    assert DANGEROUS in rules(scan_bytes(buf.getvalue(), "model.npz"))


def test_torch_zip_record_not_referenced_as_storage_is_scanned() -> None:
    blob = torch_zip(b"\x80\x02K\x01.", **{"data/0": exec_pickle()})
    assert DANGEROUS in rules(scan_bytes(blob))


def test_referenced_storages_are_still_skipped() -> None:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(64)}, buf)
    assert not scan_bytes(buf.getvalue())


# ---------------------------------------------------------------------- encrypted members
def _zipcrypto(plain: bytes, password: bytes, crc: int) -> bytes:
    """Traditional PKWARE encryption (what `zip -e` writes): 12-byte header, then the data."""
    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(c: int) -> None:
        keys[0] = zlib.crc32(bytes([c]), keys[0] ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
        keys[1] = (keys[1] + (keys[0] & 0xFF)) & 0xFFFFFFFF
        keys[1] = (keys[1] * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = zlib.crc32(bytes([keys[1] >> 24]), keys[2] ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    for c in password:
        update(c)
    out = bytearray()
    for c in bytes(range(11)) + bytes([crc >> 24]) + plain:
        t = (keys[2] | 2) & 0xFFFF
        out.append(c ^ (((t * (t ^ 1)) >> 8) & 0xFF))
        update(c)
    return bytes(out)


def test_password_protected_benign_zip_is_reported_as_encrypted_not_tampered() -> None:
    plain = npy("<f4", (4,), b"\0" * 16)
    crc = zlib.crc32(plain)
    blob = raw_zip([("w.npy", 0, _zipcrypto(plain, b"secret", crc), crc, len(plain), 1)])
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert z.read("w.npy", pwd=b"secret") == plain  # a genuine encrypted member
    findings = scan_bytes(blob, "weights.npz")
    assert rules(findings) == {"model.container.encrypted"}
    assert not fails(findings)


def test_encryption_flag_on_plaintext_is_still_tampering() -> None:
    plain = exec_pickle()
    blob = raw_zip([("archive/data.pkl", 0, plain, zlib.crc32(plain), len(plain), 1)])
    assert {"model.container.tampered", DANGEROUS} <= rules(scan_bytes(blob))


# ---------------------------------------------------------------------- 6. budgets
def _wrapper_pickle(n: int, array: bytes = b"", shape: int = 0, dtype: str = "f8") -> bytes:
    """A joblib-like stream: one NumpyArrayWrapper class and state, then n wrappers (no alignment)."""
    state = (
        b"}(" + u("shape") + b"K" + bytes([shape]) + b"\x85" + u("dtype") + glob("numpy", "dtype") + u(dtype)
        + b"\x85R" + u("order") + u("C") + b"u\x94"
    )  # fmt: skip
    head = b"\x80\x04]\x94(" + glob("joblib.numpy_pickle", "NumpyArrayWrapper") + b"\x94)\x81" + state + b"b" + array
    return head + (b"h\x01)\x81h\x02b" + array) * n + b"e."


def _work(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Total bytes the pickle interpreter walks, across main and shadow runs."""
    spent = [0]
    real = A.PickleAnalyser._run

    def counting(self: A.PickleAnalyser, data: object, pos: int, seed: object = None) -> int:
        try:
            end = real(self, data, pos, seed)  # type: ignore[arg-type]
        except A.Malformed as exc:
            spent[0] += max(0, exc.offset - pos)
            raise
        spent[0] += end - pos
        return end

    monkeypatch.setattr(A.PickleAnalyser, "_run", counting)
    yield 0
    yield spent[0]


def test_many_empty_array_wrappers_cost_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = _wrapper_pickle(8000)
    counter = _work(monkeypatch)
    next(counter)
    findings = scan_bytes(blob)
    work = next(counter)
    assert work <= 8 * len(blob), work  # was ~ n * len(blob): quadratic
    assert not fails(findings)


def test_array_bytes_that_read_as_opcodes_hit_a_failing_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = _wrapper_pickle(4000, array=b"N", shape=1, dtype="u1")  # each 1-byte array is also NONE
    counter = _work(monkeypatch)
    next(counter)
    findings = scan_bytes(blob)
    work = next(counter)
    assert work <= 8 * len(blob) + (1 << 18), work
    assert "model.container.resource-limit" in rules(findings) and fails(findings)


class FakeClock:
    """Advances one second per reading: the budget is spent after a known number of checks."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += 1.0
        return self.now


def test_blown_budget_is_a_failing_finding() -> None:
    clock = FakeClock()
    ctx = ScanContext("many.joblib", Limits(time_budget_s=50), clock=clock)
    _guarded(ctx, _wrapper_pickle(200, array=b"N", shape=1, dtype="u1"), top=True)
    assert "model.scan.timeout" in rules(ctx.findings) and fails(ctx.findings)
    assert clock.reads <= 60  # stopped at the first check past the deadline


def test_budget_checked_while_inflating_member_after_member() -> None:
    clock = FakeClock()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(200):
            z.writestr(f"w{i}.npy", npy("<f4", (4,), b"\0" * 16))
    ctx = ScanContext("many.npz", Limits(time_budget_s=30), clock=clock)
    _guarded(ctx, buf.getvalue(), top=True)
    assert "model.scan.timeout" in rules(ctx.findings)
    assert clock.reads <= 40


def test_benign_real_artifacts_stay_clean() -> None:
    import joblib

    for compress in (0, 3, ("lzma", 3), ("xz", 3), ("zlib", 3), ("bz2", 3)):
        buf = io.BytesIO()
        joblib.dump({"w": np.arange(10.0), "e": [np.empty(0)] * 50}, buf, compress=compress)
        assert not scan_bytes(buf.getvalue()), compress
    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.arange(5), b=np.ones((2, 2)))
    assert not scan_bytes(buf.getvalue())


# ---------------------------------------------------------------------- follow-ups
def test_sniff_claims_frame_and_headerless_legacy_magic() -> None:
    blob = frame_pickle()
    assert S.sniff(blob[:512], len(blob)) == S.PICKLE
    magic = b"\x8a\x0a" + LEGACY_MAGIC.to_bytes(10, "little") + b"."
    assert S.sniff(magic + b"\0" * 40, 53) == S.PICKLE
    assert S.sniff(b"\x95" + b"\xff" * 40, 41) is None


def test_truncated_stream_still_analyses_what_inflated() -> None:
    blob = lzma.compress(exec_pickle() + b"\0" * 4096, format=lzma.FORMAT_XZ)
    findings = scan_bytes(blob[: len(blob) - 30])
    assert {"model.container.malformed", DANGEROUS} <= rules(findings)


def test_second_lzma_alone_stream_with_other_properties() -> None:
    first = lzma.compress(b"\x80\x04K\x01.", format=lzma.FORMAT_ALONE)
    filters = [{"id": lzma.FILTER_LZMA1, "lc": 0, "lp": 2, "pb": 0}]
    second = lzma.compress(exec_pickle(), format=lzma.FORMAT_ALONE, filters=filters)
    assert second[0] != 0x5D
    with lzma.LZMAFile(io.BytesIO(first + second)) as reader:  # what joblib reads
        assert reader.read().endswith(exec_pickle())
    assert DANGEROUS in rules(scan_bytes(first + second))


def test_trailing_garbage_after_xz_is_ignored_like_the_reader() -> None:
    import joblib

    buf = io.BytesIO()
    joblib.dump({"w": np.arange(3.0)}, buf, compress="xz")
    assert not scan_bytes(buf.getvalue() + b"\x00garbage")


def test_storage_record_with_npy_magic_is_scanned() -> None:
    pid = b"(" + u("storage") + glob("torch", "FloatStorage") + u("0") + u("cpu") + b"K\x01t"
    pkl = (
        b"\x80\x02"
        + glob("torch._utils", "_rebuild_tensor_v2")
        + b"("
        + pid
        + b"QK\x00K\x01\x85K\x01\x85\x89"
        + b"ccollections\nOrderedDict\n)Rtr."
    )
    blob = torch_zip(pkl, **{"data/0": object_npy()})
    assert DANGEROUS in rules(scan_bytes(blob))


def test_torchscript_archive_stays_clean() -> None:
    import torch

    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())), buf)
    assert not scan_bytes(buf.getvalue())


def test_legacy_torch_save_stays_clean() -> None:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.arange(10.0)}, buf, _use_new_zipfile_serialization=False)
    assert not scan_bytes(buf.getvalue())


def test_expansion_ratio_limit_is_a_failing_finding() -> None:
    import bz2

    blob = bz2.compress(b"\x80\x04N." + b"\0" * (1 << 20))
    limits = Limits(max_ratio=100, ratio_floor=64 * 1024)
    findings = scan_bytes(blob, limits=limits)
    assert "model.container.resource-limit" in rules(findings) and fails(findings)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_BZIP2) as z:
        z.writestr("w.npy", npy("<f8", (1 << 17,), b"\0" * (1 << 20)))
    findings = scan_bytes(buf.getvalue(), limits=limits)
    assert "model.container.resource-limit" in rules(findings) and fails(findings)
    assert not scan_bytes(buf.getvalue())  # default limits: a 1 MiB member is fine
