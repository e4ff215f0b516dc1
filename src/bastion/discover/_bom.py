"""The AI-BOM: CycloneDX 1.6 with machine-learning-model and data components.

Built with `cyclonedx-python-lib` (components, hashes, dependencies), then the
parts the library does not model yet (``modelCard``, component ``data``) are added
to the JSON and the result is validated against the 1.6 schema the library ships,
so a BOM that would not validate is never written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bastion import __version__
from bastion.core.types import Asset, AssetKind

_TYPE_BY_KIND = {
    AssetKind.MODEL: "MACHINE_LEARNING_MODEL",
    AssetKind.DATASET: "DATA",
    AssetKind.VECTOR_STORE: "DATA",
    AssetKind.NOTEBOOK: "FILE",
    AssetKind.PROMPT: "DATA",
    AssetKind.CONFIG: "DATA",
    AssetKind.SECRETS: "FILE",
}
_DATA_TYPE = {
    AssetKind.DATASET: "dataset",
    AssetKind.VECTOR_STORE: "dataset",
    AssetKind.PROMPT: "configuration",
    AssetKind.CONFIG: "configuration",
}


class BomError(ValueError):
    """The BOM failed schema validation (a bug, never user input): the message says where."""


def _external_ref(edge: str) -> str:
    return f"external:{edge}"


def build_bom(assets: Sequence[Asset], *, name: str = "ai-inventory", validate: bool = True) -> dict[str, Any]:
    """A CycloneDX 1.6 JSON document (as a dict) for `assets`, with lineage as dependencies."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    bom = Bom()
    bom.metadata.component = Component(name=name, type=ComponentType.APPLICATION, bom_ref="root")
    bom.metadata.tools.components.add(
        Component(name="bastion", version=__version__, type=ComponentType.APPLICATION, bom_ref="tool:bastion")
    )
    comps: dict[str, Component] = {}
    for a in sorted(assets, key=lambda x: x.uri):
        props = [Property(name="bastion:kind", value=a.kind.value), Property(name="bastion:format", value=a.format)]
        if a.framework:
            props.append(Property(name="bastion:framework", value=a.framework))
        if a.size is not None:
            props.append(Property(name="bastion:size", value=str(a.size)))
        if a.owner:
            props.append(Property(name="bastion:owner", value=a.owner))
        if a.risk is not None:
            props.append(Property(name="bastion:risk", value=f"{a.risk:.2f}"))
        props.extend(Property(name="bastion:classification", value=c) for c in a.classification)
        props.append(Property(name="bastion:confidence", value=f"{a.confidence:.2f}"))
        hashes = []
        if a.digest and a.digest.startswith("sha256:"):
            hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=a.digest.split(":", 1)[1]))
        ctype = getattr(ComponentType, _TYPE_BY_KIND.get(a.kind, "FILE"))
        comp = Component(name=a.uri, type=ctype, bom_ref=f"asset:{a.uri}", hashes=hashes, properties=props)
        comps[a.uri] = comp
        bom.components.add(comp)
    externals: dict[str, Component] = {}
    for a in assets:
        for edge in a.lineage:
            if edge not in comps and edge not in externals:
                is_model = edge.startswith("hf:")
                ext = Component(
                    name=edge.split(":", 1)[1] if edge.startswith(("hf:", "mlflow-run:")) else edge,
                    type=ComponentType.MACHINE_LEARNING_MODEL if is_model else ComponentType.DATA,
                    bom_ref=_external_ref(edge),
                    properties=[Property(name="bastion:origin", value=edge.split(":", 1)[0])],
                )
                externals[edge] = ext
                bom.components.add(ext)
    for a in assets:
        deps = [comps.get(e) or externals[e] for e in a.lineage]
        if deps:
            bom.register_dependency(comps[a.uri], deps)
    bom.register_dependency(bom.metadata.component, list(comps.values()))
    doc: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    _annotate(doc, {f"asset:{a.uri}": a for a in assets}, comps_by_ref={f"asset:{a.uri}" for a in assets})
    if validate:
        errors = validate_bom(doc)
        if errors:
            raise BomError(errors[0])
    return doc


def _annotate(doc: dict[str, Any], by_ref: dict[str, Asset], comps_by_ref: set[str]) -> None:
    """Add modelCard and data entries that cyclonedx-python-lib does not model yet."""
    dataset_refs = [r for r, a in by_ref.items() if a.kind is AssetKind.DATASET]
    for comp in doc.get("components", []):
        a = by_ref.get(comp.get("bom-ref", ""))
        if a is None:
            continue
        if a.kind is AssetKind.MODEL:
            card = _model_card(a, [r for r in dataset_refs if r[len("asset:") :] in a.lineage])
            if card:
                comp["modelCard"] = card
        elif a.kind in _DATA_TYPE:
            entry: dict[str, Any] = {"type": _DATA_TYPE[a.kind], "name": a.uri}
            if a.classification:
                entry["classification"] = ",".join(a.classification)
            cols = a.tags.get("columns")
            if isinstance(cols, list) and cols:
                entry["description"] = "columns: " + ", ".join(str(c) for c in cols[:32])
            comp["data"] = [entry]


def _model_card(a: Asset, datasets: list[str]) -> dict[str, Any] | None:
    params: dict[str, Any] = {}
    t = a.tags
    arch = t.get("architectures")
    if isinstance(t.get("model_type"), str):
        params["architectureFamily"] = t["model_type"]
    if isinstance(arch, list) and arch:
        params["modelArchitecture"] = str(arch[0])
    if isinstance(t.get("architecture"), str):
        params["architectureFamily"] = t["architecture"]
    if a.framework in ("sklearn", "xgboost", "lightgbm", "catboost"):
        params["approach"] = {"type": "supervised"}
    if datasets:
        params["datasets"] = [{"ref": r} for r in datasets]
    props = [{"name": "bastion:format", "value": a.format}]
    for key in ("parameters", "tensors", "dtypes", "flavors", "run_id"):
        if key in t:
            props.append(
                {"name": f"bastion:{key}", "value": json.dumps(t[key]) if not isinstance(t[key], str) else t[key]}
            )
    if not params and len(props) == 1:
        return None
    card: dict[str, Any] = {"properties": props}
    if params:
        card["modelParameters"] = params
    return card


def validate_bom(doc: dict[str, Any]) -> list[str]:
    """Schema errors against CycloneDX 1.6 (empty when valid)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))
    return [] if err is None else [str(err)[:500]]
