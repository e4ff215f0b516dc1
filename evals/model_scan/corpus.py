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


# ---------------------------------------------------------------------- benign artifacts
def _benign(out: Path) -> list[Path]:
    import enum
    from collections import Counter, OrderedDict
    from datetime import datetime, timedelta

    import joblib
    import numpy as np
    import pandas as pd
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
    return paths


def generate(out: Path) -> tuple[list[Path], list[Path]]:
    out.mkdir(parents=True, exist_ok=True)
    bad_dir = out / "malicious"
    good_dir = out / "benign"
    bad_dir.mkdir(exist_ok=True)
    good_dir.mkdir(exist_ok=True)
    bad: list[Path] = []
    for name, make in MALICIOUS.items():
        p = bad_dir / name
        p.write_bytes(make())
        bad.append(p)
    good = _benign(good_dir)
    return bad, good


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bastion-model-corpus")
    b, g = generate(target)
    print(f"{len(b)} malicious, {len(g)} benign written to {target}")
    _ = zlib  # keep the import for readers extending the corpus with raw deflate members
