"""Demo artifacts: one benign and one malicious model file with a harmless payload.

The malicious one, if anyone ever loaded it, would only create an empty marker
file in the system temp folder; the scanner flags it without loading it.
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path


def write_demo_models(folder: str | Path) -> tuple[Path, Path]:
    """Write `fraud_model.pkl` (benign) and `fraud_model_trojan.pkl` (malicious) into `folder`."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    benign = out / "fraud_model.pkl"
    benign.write_bytes(
        pickle.dumps({"weights": [0.12, -0.4, 0.9], "bias": 0.1, "classes": ("legit", "fraud")}, protocol=4)
    )
    marker = Path(tempfile.gettempdir()) / "bastion-demo-marker"
    malicious = out / "fraud_model_trojan.pkl"
    malicious.write_bytes(trojan_pickle(f"open({str(marker)!r}, 'w').close()"))
    return benign, malicious


def trojan_pickle(code: str) -> bytes:
    """A protocol-2 pickle that calls `builtins.exec(code)` when loaded (built by hand, never run)."""
    body = code.encode()
    return b"\x80\x02cbuiltins\nexec\nq\x00X" + len(body).to_bytes(4, "little") + body + b"q\x01\x85q\x02Rq\x03."
