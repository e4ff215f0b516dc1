"""Python environment check: inventory from metadata, requirement pinning, hashes, index allowlist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.types import AssetKind
from bastion.model.envcheck import ai_category, check_environment, check_requirements, inventory


def _dist(site: Path, name: str, version: str, direct_url: dict[str, object] | None = None) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    _dist(site, "torch", "2.13.0")
    _dist(site, "transformers", "4.50.0", {"url": "https://github.com/x/transformers", "vcs_info": {"vcs": "git"}})
    _dist(site, "my-model-utils", "0.1", {"url": "file:///src/utils", "dir_info": {"editable": True}})
    _dist(site, "langchain-openai", "0.3.0", {"url": "https://user:secret@files.example/lc.whl"})
    _dist(site, "requests", "2.32.0")
    return site


def test_inventory_reads_metadata_and_origin(site: Path) -> None:
    pkgs = {p.name: p for p in inventory([str(site)])}
    assert pkgs["torch"].origin == "index" and pkgs["torch"].category == "framework"
    assert pkgs["transformers"].origin == "vcs"
    assert pkgs["my-model-utils"].origin == "editable" and pkgs["my-model-utils"].category is None
    assert pkgs["requests"].category is None


def test_environment_findings_and_bom_assets(site: Path) -> None:
    report = check_environment(paths=[str(site)])
    assert {p.name for p in report.ai_packages} == {"torch", "transformers", "langchain-openai"}
    flagged = {f.properties["package"] for f in report.findings}
    assert flagged == {"transformers", "langchain-openai"}
    assert all(f.rule_id == "supply.env.untrusted-index" for f in report.findings)
    assert not any("secret" in f.evidence for f in report.findings)  # credentials in URLs are masked
    assets = report.assets("bank")
    assert {a.uri for a in assets} >= {"pkg:pypi/torch@2.13.0"}
    assert all(a.kind is AssetKind.COMPONENT for a in assets)


def test_requirements_rules(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("scikit-learn>=1.4\n")
    req = tmp_path / "requirements.txt"
    req.write_text(
        "# pinned and hashed: clean\n"
        "torch==2.13.0 \\\n    --hash=sha256:aaaa\n"
        "numpy>=1.26  # floating\n"
        "--extra-index-url https://user:token@mirror.evil.example/simple\n"
        "--index-url https://pypi.org/simple/\n"
        "transformers @ git+https://github.com/x/transformers\n"
        "-e ./local-pkg\n"
        "-r base.txt\n"
        "pandas==2.*\n"
    )
    got = [(f.rule_id, f.location.line, f.properties.get("package")) for f in check_requirements(req)]
    assert ("supply.env.unpinned", 4, "numpy") in got
    assert ("supply.env.unhashed", 4, "numpy") in got
    assert ("supply.env.untrusted-index", 5, None) in got
    assert ("supply.env.untrusted-index", 7, None) in got
    assert ("supply.env.untrusted-index", 8, None) in got
    assert ("supply.env.unpinned", 1, "scikit-learn") in got  # from the included file
    assert ("supply.env.unpinned", 10, "pandas") in got  # wildcard is not a pin
    assert not any(line == 2 for _, line, _ in got)  # torch is pinned and hashed
    assert not any(line == 6 for _, line, _ in got)  # pypi.org/simple is allowlisted
    evidence = " ".join(f.evidence for f in check_requirements(req))
    assert "token" not in evidence and "***@mirror.evil.example" in evidence


def test_requirement_includes_do_not_loop(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r b.txt\nflask\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    assert [f.properties["package"] for f in check_requirements(tmp_path / "a.txt")] == ["flask", "flask"]


def test_oversized_requirements_file(tmp_path: Path) -> None:
    big = tmp_path / "r.txt"
    big.write_bytes(b"a\n" * (3 * 1024 * 1024))
    with pytest.raises(ValueError, match="too large"):
        check_requirements(big)


def test_ai_categories() -> None:
    assert ai_category("Torch") == "framework"
    assert ai_category("sentence_transformers") == "model-hub"
    assert ai_category("langchain-anthropic") == "llm"
    assert ai_category("flask") is None


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_requirements_parser_never_crashes(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("req") / "requirements.txt"
    path.write_text(text, encoding="utf-8")
    for f in check_requirements(path):
        assert f.rule_id.startswith("supply.env.")
