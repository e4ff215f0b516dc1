from __future__ import annotations

from pathlib import Path

import pytest
from discover_formats import Expected, build_tree


@pytest.fixture(scope="session")
def format_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    root = tmp_path_factory.mktemp("formats")
    return root, build_tree(root)
