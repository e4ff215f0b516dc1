"""The top-level Python API resolves every name it advertises, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bastion


@pytest.mark.parametrize("name", [n for n in bastion.__all__ if n != "__version__"])
def test_every_export_resolves(name: str) -> None:
    import bastion.discover
    import bastion.scan  # subpackages bind their names on `bastion`; exports must not clash

    assert callable(getattr(bastion, name))
    assert not isinstance(getattr(bastion, name), type(bastion))


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        bastion.no_such_thing  # noqa: B018


def test_import_is_light() -> None:
    code = "import sys, bastion; print(any(m.startswith(('torch', 'sklearn', 'fastapi')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_detect_finds_an_email_with_offsets() -> None:
    text = "contact maria.rossi@example-bank.eu today"
    found = [e for e in bastion.detect(text) if e.entity_type == "EMAIL_ADDRESS"]
    assert found and text[found[0].start : found[0].end] == "maria.rossi@example-bank.eu"
