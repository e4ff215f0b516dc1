"""Raw-opcode builders for test pickles: malicious samples are never produced by pickling live objects."""

from __future__ import annotations

import io
import struct
import zipfile


def u(s: str) -> bytes:
    b = s.encode()
    return (b"\x8c" + bytes([len(b)]) + b) if len(b) < 256 else (b"X" + struct.pack("<I", len(b)) + b)


def glob(mod: str, name: str) -> bytes:
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def p2(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def p4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def exec_pickle(code: str = "pass") -> bytes:
    return p2(glob("builtins", "exec") + u(code) + b"\x85R")


def torch_zip(pkl: bytes, folder: str = "archive", method: int = zipfile.ZIP_STORED, **extra: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        z.writestr(f"{folder}/data.pkl", pkl)
        for k, v in extra.items():
            z.writestr(f"{folder}/{k}", v)
        z.writestr(f"{folder}/version", b"3\n")
    return buf.getvalue()
