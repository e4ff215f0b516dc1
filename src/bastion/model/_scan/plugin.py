"""The `Scanner` plug-in: the orchestrator hands it files; it decides by content."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bastion.core.plugins import ScanTarget
from bastion.core.types import Finding, Rule
from bastion.model._scan import sniff as S
from bastion.model._scan.context import Limits
from bastion.model._scan.rules import RULES, SCANNER_NAME

# Formats that on their own say "model artifact". JSON and protobuf are too generic
# to claim from the head alone; the scanner still reaches them inside containers.
_CLAIMED = {
    S.ZIP, S.PICKLE, S.NPY, S.GGUF, S.HDF5, S.SEVENZ, S.SAFETENSORS, S.TAR, *S.COMPRESSED,
}  # fmt: skip
_MODEL_SUFFIXES = (
    ".onnx", ".pb", ".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib", ".keras", ".h5",
    ".gguf", ".safetensors", ".npy", ".npz", ".mar", ".model", ".sav", ".dill",
)  # fmt: skip


class ModelScanner:
    """Entry point `bastion.scanners`: `model = "bastion.model._scan.plugin:ModelScanner"`.

    `applies` looks at magic bytes in `target.head`; the extension only widens the
    net for formats without magic (ONNX, SavedModel protobufs, Keras JSON), it
    never narrows it. Archives (zip/tar/7z/compressed) are claimed because models
    hide in them; their members are identified by content again.
    """

    name = SCANNER_NAME
    rules: Mapping[str, Rule] = RULES

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits

    def applies(self, target: ScanTarget) -> bool:
        fmt = S.sniff(target.head[:512], target.size)
        if fmt in _CLAIMED:
            return True
        if target.asset is not None and getattr(target.asset.kind, "value", "") == "model":
            return True
        return target.relpath.lower().endswith(_MODEL_SUFFIXES)

    def scan(self, target: ScanTarget) -> Iterable[Finding]:
        from bastion.model.scan import scan_file

        limits = self.limits
        timeout = target.options.get("timeout_per_file") if target.options else None
        if isinstance(timeout, int | float) and timeout > 0:
            base = limits or Limits()
            limits = Limits(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "time_budget_s": float(timeout)})
        return scan_file(target.path, uri=target.uri, limits=limits)
