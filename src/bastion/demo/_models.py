"""Model files for the demo: the bank's own model and a booby-trapped third-party checkpoint.

The malicious checkpoint is laid out exactly as `torch.save` lays out a zip
checkpoint, but its `data.pkl` calls `builtins.exec` on load. Its payload is
harmless (it would write a marker file in the temp folder), and Bastion never
loads it: the point is that the scanner catches it from the bytes alone.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

from bastion.model.scan import trojan_pickle

MARKER_PAYLOAD = "open(__import__('tempfile').gettempdir() + '/bastion-demo-pwned', 'w').write('pwned')"


def write_benign_model(path: Path, *, seed: int = 0) -> None:
    """A small fraud classifier saved the way the notebook says: scikit-learn + joblib.

    Falls back to a plain pickle of NumPy weights when scikit-learn is absent, so the
    demo still runs on a core install.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 4))
    y = (x[:, 0] + 0.5 * x[:, 2] + rng.normal(scale=0.5, size=400) > 1.2).astype(int)
    try:
        import joblib
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        with path.open("wb") as fh:
            pickle.dump({"coef": rng.normal(size=4), "intercept": 0.1, "classes": [0, 1]}, fh, protocol=4)
        return
    joblib.dump(LogisticRegression(max_iter=200).fit(x, y), path)


def write_malicious_checkpoint(path: Path, archive: str = "merchant_embeddings") -> None:
    """A PyTorch zip checkpoint (no telling extension) whose data.pkl runs code on load."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{archive}/data.pkl", trojan_pickle(MARKER_PAYLOAD))
        zf.writestr(f"{archive}/byteorder", "little")
        zf.writestr(f"{archive}/data/0", bytes(256))
        zf.writestr(f"{archive}/version", "3\n")
        zf.writestr(f"{archive}/.data/serialization_id", "1234567890123456789012345678901234567890")
    path.write_bytes(buf.getvalue())
