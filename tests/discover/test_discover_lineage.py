"""Lineage from training configs: which data a model is made from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bastion.discover import discover


def _project(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    (root / "data" / "train.csv").write_text("amount,label\n" + "".join(f"{i}.5,{i % 2}\n" for i in range(20)))
    (root / "models").mkdir()
    np.save(root / "models" / "weights.npy", np.arange(12, dtype=np.float32))
    (root / "config").mkdir()


def test_training_config_with_unquoted_paths_links_model_to_data(tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / "config" / "train.yaml").write_text(
        "experiment: churn-v2\n"
        "dataset: ../data/train.csv   # the labelled extract\n"
        "model_output: ../models/weights.npy\n"
        "epochs: 10\n"
        "learning_rate: 0.01\n"
    )
    found = {a.uri: a for a in discover(tmp_path, use_git=False).assets}
    config = found["config/train.yaml"]
    assert (config.kind.value, config.format) == ("config", "training-config")
    assert config.lineage == ["data/train.csv"]  # its input; the model it writes points back at it
    assert found["models/weights.npy"].lineage == ["data/train.csv", "config/train.yaml"]
    assert found["data/train.csv"].lineage == []


def test_notebook_that_reads_data_and_writes_a_model_is_its_producer(tmp_path: Path) -> None:
    _project(tmp_path)
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": 1,
                "source": [
                    "import numpy as np, pandas as pd\n",
                    "df = pd.read_csv('../data/train.csv')\n",
                    "np.save('../models/weights.npy', fit(df))\n",
                ],
            }
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "config" / "train.ipynb").write_text(json.dumps(nb))
    found = {a.uri: a for a in discover(tmp_path, use_git=False).assets}
    assert found["models/weights.npy"].lineage == ["data/train.csv", "config/train.ipynb"]
    assert found["config/train.ipynb"].lineage == ["data/train.csv"]


def test_a_config_that_only_mentions_keys_is_not_a_training_config(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("label: primary\ncolor: blue\nsize: 3\n")
    (tmp_path / "ci.yaml").write_text("epochs: notes about the release train\n")
    assert discover(tmp_path, use_git=False).assets == []
