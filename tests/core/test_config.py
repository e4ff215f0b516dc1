from pathlib import Path

import pytest

from bastion.core.config import ConfigError, load_settings
from bastion.core.types import Severity


def test_defaults_put_state_and_sqlite_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.state_dir == tmp_path / ".bastion"
    assert settings.db_url == f"sqlite:///{tmp_path}/.bastion/bastion.db"
    assert settings.fail_on is Severity.HIGH


def test_file_then_env_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bastion.toml"
    cfg.write_text(
        '[bastion]\nproject = "fraud"\nfail_on = "medium"\nstate_dir = "state"\n[bastion.scan]\nworkers = 3\n'
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert (settings.project, settings.fail_on, settings.scan.workers) == ("fraud", Severity.MEDIUM, 3)
    assert settings.state_dir == tmp_path / "state"
    monkeypatch.setenv("BASTION_PROJECT", "from-env")
    assert load_settings().project == "from-env"
    assert load_settings(project="flag").project == "flag"


def test_database_password_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_DATABASE_URL", "postgresql+psycopg://svc:hunter2@db:5432/bastion")
    shown = load_settings().redacted()
    assert "hunter2" not in str(shown)
    assert shown["database_url"].startswith("postgresql+psycopg://svc:***@db")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[bastion\nproject=1", "invalid TOML"),
        ('[bastion]\nprojct = "x"', "projct"),
        ('[bastion]\nproject = "bad name!"', "project"),
        ('[bastion]\nfail_on = "urgent"', "unknown severity"),
        ("[bastion.scan]\nworkers = -1", "scan.workers"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bastion.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_and_binary_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.toml")
    cfg = tmp_path / "bastion.toml"
    cfg.write_bytes(b"\x00\xff\xfe\x80")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(cfg)
