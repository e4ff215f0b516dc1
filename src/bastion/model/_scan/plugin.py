"""The `Scanner` plug-in: the orchestrator hands it files; it decides by content."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from bastion.core.plugins import ScanTarget
from bastion.core.types import Finding, Rule
from bastion.model._scan import sniff as S
from bastion.model._scan.context import Limits
from bastion.model._scan.rules import RULES, SCANNER_NAME

# The orchestrator's default hard alarm is 60 s per file; finish first with partial findings.
_DEFAULT_BUDGET_S = 45.0
_WRAPPER_SUFFIXES = (".gz", ".bz2", ".xz", ".lzma", ".lz4", ".tar", ".tgz", ".7z")

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
        name = target.relpath.lower()
        while name.endswith(_WRAPPER_SUFFIXES):
            name = name.rsplit(".", 1)[0]
        return name.endswith(_MODEL_SUFFIXES)

    def scan(self, target: ScanTarget) -> Iterable[Finding]:
        """Scan within a budget kept below the orchestrator's hard per-file alarm, so a
        slow file ends with our timeout finding *and* everything found so far."""
        from bastion.model.scan import scan_file

        base = self.limits or Limits(time_budget_s=_DEFAULT_BUDGET_S)
        timeout = target.options.get("timeout_per_file") if target.options else None
        if isinstance(timeout, int | float) and timeout > 0:
            base = replace(base, time_budget_s=float(timeout) * 0.8)
        # A generic archive found during discovery (a .csv.gz, a docs .zip) is not a
        # model: members we cannot identify are data, not an unverifiable model.
        return scan_file(target.path, uri=target.uri, limits=base, strict=self._model_like(target))

    @staticmethod
    def _model_like(target: ScanTarget) -> bool:
        if target.asset is not None and getattr(target.asset.kind, "value", "") == "model":
            return True
        fmt = S.sniff(target.head[:512], target.size)
        if fmt not in (S.ZIP, S.TAR, S.SEVENZ, *S.COMPRESSED):
            return True
        name = target.relpath.lower()
        while name.endswith(_WRAPPER_SUFFIXES):
            name = name.rsplit(".", 1)[0]
        return name.endswith(_MODEL_SUFFIXES)
