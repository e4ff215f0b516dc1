from pathlib import Path

import pytest

from bastion.core.policy import PolicyError, load_policy
from bastion.core.types import Asset, AssetKind, Finding, Location, Severity


def _finding(rule: str = "secret.aws", sev: Severity = Severity.HIGH, uri: str = "cfg/a.yaml", conf: float = 0.9):
    return Finding(
        rule_id=rule,
        title="t",
        severity=sev,
        asset_uri=uri,
        location=Location(path=uri, line=3),
        scanner="secrets",
        confidence=conf,
        controls=("owasp-llm:LLM02",),
    )


def test_default_threshold_fails_on_high_and_passes_medium() -> None:
    policy = load_policy(None)
    assert not policy.evaluate([_finding(sev=Severity.HIGH)]).passed
    assert policy.evaluate([_finding(sev=Severity.MEDIUM)]).passed
    decision = policy.evaluate([_finding(sev=Severity.CRITICAL), _finding(rule="x", sev=Severity.HIGH)])
    assert "2 finding(s) at or above high" in decision.reasons[0]
    assert len(decision.failing) == 2


def test_fail_on_override_and_min_confidence(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('fail_on = "critical"\nmin_confidence = 0.5\n')
    policy = load_policy(path)
    assert policy.evaluate([_finding(sev=Severity.HIGH)]).passed
    assert policy.evaluate([_finding(sev=Severity.CRITICAL, conf=0.3)]).passed
    assert not policy.evaluate([_finding(sev=Severity.CRITICAL, conf=0.6)]).passed
    assert not load_policy(path, fail_on=Severity.LOW).evaluate([_finding(sev=Severity.LOW)]).passed


def test_allow_rule_waives_with_reason_and_deny_rule_blocks_assets(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "rules:\n"
        "  - id: docs-examples\n    effect: allow\n    reason: documented example keys\n"
        "    match: {rule_id: 'secret.*', asset: 'docs/**'}\n"
        "  - id: no-pickle\n    effect: deny\n    reason: pickle runs code\n"
        "    match: {asset_kind: model, asset_format: pickle}\n"
    )
    policy = load_policy(path)
    decision = policy.evaluate([_finding(uri="docs/x/readme.md")])
    assert decision.passed and decision.waived[0]["rule"] == "docs-examples"
    model = Asset(uri="m/model.pkl", kind=AssetKind.MODEL, format="pickle")
    decision = policy.evaluate([], [model])
    assert not decision.passed
    assert decision.reasons == ["no-pickle: m/model.pkl (pickle runs code)"]
    other = Asset(uri="m/model.st", kind=AssetKind.MODEL, format="safetensors")
    assert policy.evaluate([], [other]).passed


def test_deny_rule_over_findings_blocks_below_threshold(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[[rules]]\nid = "no-pii"\neffect = "deny"\nreason = "no PII in prompts"\n'
        '[rules.match]\nrule_id = "pii.*"\nasset = "prompts/*"\n'
    )
    decision = load_policy(path).evaluate([_finding(rule="pii.email", sev=Severity.LOW, uri="prompts/s.txt")])
    assert not decision.passed and decision.reasons[0].startswith("no-pii: pii.email in prompts/s.txt")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.toml", "fail_on = ", "not valid toml"),
        ("p.yaml", "rules: [a: b: c", "not valid YAML"),
        ("p.toml", 'fail_on = "extreme"', "unknown severity"),
        ("p.toml", "bogus = 1", "bogus"),
        ("p.yaml", "- 1\n- 2\n", "mapping at the top level"),
        ("p.yaml", "rules:\n  - {id: a, effect: allow, reason: r, match: {}}\n", "empty match"),
        ("p.yaml", "rules:\n  - {id: a, effect: maybe, reason: r, match: {rule_id: x}}\n", "effect"),
        (
            "p.yaml",
            "rules:\n  - {id: a, effect: deny, reason: r, match: {rule_id: x}}\n"
            "  - {id: a, effect: deny, reason: r, match: {rule_id: y}}\n",
            "duplicate rule id",
        ),
        ("p.yaml", "rules:\n  - {id: a, effect: allow, reason: r, match: {asset_kind: model}}\n", "allow rules"),
    ],
)
def test_bad_policy_files_give_one_line_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert message.lower() in str(err.value).lower()
    assert "\n" not in str(err.value)


def test_unreadable_policy(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "missing.toml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PolicyError):
        load_policy(binary)
