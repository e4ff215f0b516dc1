from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bastion.core.controls import Catalog, Control, Framework, UnknownControlError, catalog, validate_refs
from bastion.core.plugins import PluginError, all_rules


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return catalog()


def test_catalog_is_cached() -> None:
    assert catalog() is catalog()


def test_frameworks_in_display_order(cat: Catalog) -> None:
    assert cat.frameworks() == [
        "owasp-llm",
        "owasp-ml",
        "atlas",
        "nist-ai-rmf",
        "eu-ai-act",
        "gdpr",
        "iso42001",
    ]


@pytest.mark.parametrize(
    ("framework", "count"),
    [
        ("owasp-llm", 10),
        ("owasp-ml", 10),
        ("nist-ai-rmf", 72),
        ("eu-ai-act", 12),
        ("gdpr", 6),
        ("iso42001", 38),
    ],
)
def test_counts(cat: Catalog, framework: str, count: int) -> None:
    assert len(cat.list(framework)) == count


def test_atlas_counts_and_kinds(cat: Catalog) -> None:
    atlas = cat.list("atlas")
    kinds = {k: sum(1 for c in atlas if c.kind == k) for k in ("tactic", "technique", "mitigation")}
    assert len(atlas) > 100 and sum(kinds.values()) == len(atlas)
    assert kinds["tactic"] >= 14 and kinds["technique"] >= 100 and kinds["mitigation"] >= 30
    t = cat.get("atlas:AML.T0010")
    assert t.kind == "technique" and t.url == "https://atlas.mitre.org/techniques/AML.T0010"
    assert cat.get("atlas:AML.TA0002").url == "https://atlas.mitre.org/tactics/AML.TA0002"
    assert cat.get("atlas:AML.M0000").url == "https://atlas.mitre.org/mitigations/AML.M0000"
    # Sub-techniques carry their parent's name so the title reads on its own.
    sub = next(c for c in atlas if re.fullmatch(r"AML\.T\d{4}\.\d{3}", c.id))
    parent = cat.get(f"atlas:{sub.id[:9]}")
    assert sub.title.startswith(parent.title + ": ")


def test_nist_ids_are_complete(cat: Catalog) -> None:
    ids = [c.id for c in cat.list("nist-ai-rmf")]
    per_fn = {fn: sum(1 for i in ids if i.startswith(fn + "-")) for fn in ("GOVERN", "MAP", "MEASURE", "MANAGE")}
    assert per_fn == {"GOVERN": 19, "MAP": 18, "MEASURE": 22, "MANAGE": 13}
    assert ids[0] == "GOVERN-1.1" and ids[-1] == "MANAGE-4.3"
    assert len(set(ids)) == len(ids)


def test_iso_and_eu_ids(cat: Catalog) -> None:
    iso = [c.id for c in cat.list("iso42001")]
    assert iso[0] == "A.2.2" and iso[-1] == "A.10.4" and "A.6.1.2" in iso and "A.7.4" in iso
    eu = [c.id for c in cat.list("eu-ai-act")]
    assert eu == [f"Art.{n}" for n in (9, 10, 11, 12, 13, 14, 15, 17, 19, 26, 72)] + ["Annex-IV"]
    assert [c.id for c in cat.list("gdpr")] == ["Art.5", "Art.9", "Art.25", "Art.30", "Art.32", "Art.35"]


def test_every_control_is_well_formed(cat: Catalog) -> None:
    refs = set()
    for c in cat:
        assert isinstance(c, Control)
        assert c.title.strip() and len(c.title) <= 120, c.ref
        assert c.url and c.url.startswith("https://"), c.ref
        assert c.kind, c.ref
        assert c.ref not in refs
        refs.add(c.ref)
    assert len(cat) == len(refs) == len(cat.list())


@pytest.mark.parametrize(
    ("ref", "canonical"),
    [
        ("nist-ai-rmf:GV-1.6", "nist-ai-rmf:GOVERN-1.6"),
        ("nist-ai-rmf:mp-4.1", "nist-ai-rmf:MAP-4.1"),
        ("nist-ai-rmf:MS-2.10", "nist-ai-rmf:MEASURE-2.10"),
        ("nist-ai-rmf:MG 3.2", "nist-ai-rmf:MANAGE-3.2"),
        ("nist:GOVERN 1.1", "nist-ai-rmf:GOVERN-1.1"),
        ("owasp-llm:llm1", "owasp-llm:LLM01"),
        ("owasp-llm:LLM02:2025", "owasp-llm:LLM02"),
        ("OWASP-ML:ml06", "owasp-ml:ML06"),
        ("atlas:aml.t0010", "atlas:AML.T0010"),
        ("atlas:T0010", "atlas:AML.T0010"),
        ("mitre-atlas:AML.TA0002", "atlas:AML.TA0002"),
        ("eu-ai-act:Article 10", "eu-ai-act:Art.10"),
        ("eu-ai-act:art. 15", "eu-ai-act:Art.15"),
        ("eu-ai-act:Annex IV", "eu-ai-act:Annex-IV"),
        ("eu-ai-act:annex-4", "eu-ai-act:Annex-IV"),
        ("gdpr:32", "gdpr:Art.32"),
        ("iso42001:a.7.4", "iso42001:A.7.4"),
        ("iso-42001:6.2.8", "iso42001:A.6.2.8"),
        ("  gdpr : Art.5 ", "gdpr:Art.5"),
    ],
)
def test_alias_resolution(cat: Catalog, ref: str, canonical: str) -> None:
    assert cat.canonical(ref) == canonical
    assert cat.resolve(ref) == cat.get(canonical)
    assert ref in cat


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("LLM01", "expected 'framework:id'"),
        ("", "expected 'framework:id'"),
        ("owasp-llm:LLM11", "unknown control 'LLM11' in framework 'owasp-llm'"),
        ("owasp-lm:LLM01", "did you mean 'owasp-llm'"),
        ("hipaa:164.312", "known frameworks: owasp-llm"),
        ("nist-ai-rmf:GOVERN-9.9", "GOVERN-1.1 … MANAGE-4.3"),
        ("eu-ai-act:Art.99", "unknown control"),
        ("eu-ai-act:Annex XI", "unknown control"),
        ("atlas:AML.T9999", "did you mean"),
        ("gdpr:", "unknown control ''"),
    ],
)
def test_unknown_refs_explain_themselves(cat: Catalog, ref: str, needle: str) -> None:
    with pytest.raises(KeyError) as info:
        cat.get(ref)
    assert isinstance(info.value, UnknownControlError) and isinstance(info.value, ValueError)
    assert needle in str(info.value)
    assert not str(info.value).startswith("'")  # readable message, not a KeyError repr
    assert cat.resolve(ref) is None


def test_get_rejects_non_strings(cat: Catalog) -> None:
    with pytest.raises(UnknownControlError):
        cat.get(None)  # type: ignore[arg-type]


def test_validate_refs(cat: Catalog) -> None:
    refs = ["owasp-llm:LLM01", "bogus:1", "gdpr:Art.5", "bogus:1", "owasp-llm:LLM99", "nope"]
    assert cat.validate_refs(refs) == ["bogus:1", "owasp-llm:LLM99", "nope"]
    assert validate_refs(("gdpr:Art.32",)) == []


def test_list_unknown_framework(cat: Catalog) -> None:
    with pytest.raises(UnknownControlError, match="unknown framework"):
        cat.list("cobit")


def test_catalog_rejects_duplicates_and_orphans() -> None:
    fw = Framework(key="x", name="X", version="1", url="https://x")
    with pytest.raises(ValueError, match="duplicate"):
        Catalog([fw], [Control("x", "A", "a"), Control("x", "A", "b")])
    with pytest.raises(ValueError, match="undeclared framework"):
        Catalog([fw], [Control("y", "A", "a")])


@given(st.text(max_size=40))
def test_resolver_never_crashes(ref: str) -> None:
    cat = catalog()
    control = cat.resolve(ref)
    assert control is None or isinstance(control, Control)
    try:
        got = cat.get(ref)
    except UnknownControlError:
        assert control is None
    else:
        assert got == control


@given(st.sampled_from(catalog().list()))
def test_every_canonical_ref_resolves_to_itself(control: Control) -> None:
    assert catalog().get(control.ref) is control
    assert catalog().get(control.ref.upper() if control.framework != "atlas" else control.ref) == control


def test_every_registered_rule_cites_known_controls(cat: Catalog) -> None:
    """Guards future plug-ins: a rule that cites a control the catalog lacks fails here."""
    try:
        rules = dict(all_rules())
    except PluginError as exc:  # a plug-in that cannot even load is a failure too
        pytest.fail(str(exc))
    try:
        from bastion.scan._rules import CORE_RULES
    except ImportError:
        CORE_RULES = {}
    rules.update(CORE_RULES)
    bad = {rid: cat.validate_refs(rule.controls) for rid, rule in rules.items()}
    bad = {rid: refs for rid, refs in bad.items() if refs}
    assert not bad, f"rules cite unknown controls: {bad}"
    empty = [rid for rid, rule in rules.items() if not rule.controls]
    assert not empty, f"rules without any control reference: {empty}"


# --- CLI -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def test_cli_list_json(runner: CliRunner) -> None:
    from bastion.cli.app import app

    result = runner.invoke(app, ["controls", "list", "--framework", "gdpr", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["ref"] for d in data] == [
        "gdpr:Art.5",
        "gdpr:Art.9",
        "gdpr:Art.25",
        "gdpr:Art.30",
        "gdpr:Art.32",
        "gdpr:Art.35",
    ]
    assert set(data[0]) == {"ref", "framework", "id", "title", "kind", "url"}


def test_cli_list_table_and_kind_filter(runner: CliRunner) -> None:
    from bastion.cli.app import app

    result = runner.invoke(app, ["controls", "list", "-f", "atlas", "--kind", "tactic", "--json"])
    assert result.exit_code == 0
    assert {d["kind"] for d in json.loads(result.stdout)} == {"tactic"}
    table = runner.invoke(app, ["controls", "list", "-f", "owasp-llm"])
    assert table.exit_code == 0 and "owasp-llm:LLM10" in table.stdout


def test_cli_show(runner: CliRunner) -> None:
    from bastion.cli.app import app

    result = runner.invoke(app, ["controls", "show", "nist-ai-rmf:GV-1.6", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ref"] == "nist-ai-rmf:GOVERN-1.6" and data["framework_name"].startswith("NIST")
    assert runner.invoke(app, ["controls", "show", "owasp-llm:LLM01"]).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["controls", "show", "owasp-llm:LLM42"],
        ["controls", "show", "nonsense"],
        ["controls", "list", "-f", "x"],
    ],
)
def test_cli_errors_exit_2(runner: CliRunner, args: list[str]) -> None:
    from bastion.cli.app import app

    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output


def test_atlas_data_matches_generator(tmp_path: Path) -> None:
    """The shipped ATLAS file is exactly what the committed script makes from the ATLAS release."""
    import runpy

    repo = Path(__file__).resolve().parents[2]
    source = next(
        (
            p
            for p in (
                repo / "shared/data/ATLAS.yaml",
                repo.parent / "shared/data/ATLAS.yaml",
                Path("/work/shared/data/ATLAS.yaml"),
            )
            if p.is_file()
        ),
        None,
    )
    if source is None:
        pytest.skip("ATLAS release file not available")
    out = tmp_path / "atlas.yaml"
    script = runpy.run_path(str(repo / "scripts/gen_atlas_controls.py"))
    assert script["main"](["gen", str(source), str(out)]) == 0
    shipped = repo / "src/bastion/core/controls/data/atlas.yaml"
    assert out.read_bytes() == shipped.read_bytes()
