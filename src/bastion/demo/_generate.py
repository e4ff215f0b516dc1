"""Generate the flagship scenario: a bank's fraud-detection project, with its mistakes.

Everything is synthetic and deterministic for a given seed: names and
addresses come from small built-in lists, card numbers are Luhn-valid test
numbers, IBANs carry correct check digits, and the leaked credentials are
random strings in the shape of real ones (they grant nothing).
"""

from __future__ import annotations

import csv
import json
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIRST = [
    "Amelia",
    "Oliver",
    "Sofia",
    "Lucas",
    "Hannah",
    "Mateo",
    "Chloe",
    "Noah",
    "Elena",
    "Jonas",
    "Priya",
    "Kenji",
    "Fatima",
    "Diego",
    "Ingrid",
    "Tomasz",
    "Aisha",
    "Liam",
    "Camille",
    "Marco",
]
LAST = [
    "Fischer",
    "Martin",
    "Rossi",
    "Kowalski",
    "Nguyen",
    "Garcia",
    "Schmidt",
    "Dubois",
    "Silva",
    "Jensen",
    "Okafor",
    "Tanaka",
    "Haddad",
    "Novak",
    "Moreau",
    "Becker",
    "Costa",
    "Larsen",
]
STREETS = ["Bahnhofstrasse", "Rue de Rivoli", "Via Roma", "Kingsway", "Calle Mayor", "Hauptstrasse"]
CITIES = [
    ("Berlin", "DE"),
    ("Paris", "FR"),
    ("Milan", "IT"),
    ("London", "GB"),
    ("Madrid", "ES"),
    ("Munich", "DE"),
    ("Lyon", "FR"),
    ("Amsterdam", "NL"),
]
MERCHANTS = [
    "grocery",
    "fuel",
    "electronics",
    "travel",
    "restaurant",
    "online-marketplace",
    "pharmacy",
    "crypto-exchange",
    "gift-cards",
    "utilities",
]
# Bank codes per country for syntactically valid IBANs: (country, bban length, generator)
_IBAN_BBAN = {"DE": 18, "FR": 23, "IT": 23, "GB": 18, "ES": 20, "NL": 14}


@dataclass(slots=True)
class DemoProject:
    root: Path
    files: dict[str, Path] = field(default_factory=dict)


def luhn_complete(prefix: str) -> str:
    """Append the Luhn check digit to `prefix`."""
    total = 0
    for i, ch in enumerate(reversed(prefix)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return prefix + str((10 - total % 10) % 10)


def _iban(rng: random.Random, country: str) -> str:
    length = _IBAN_BBAN[country]
    if country == "GB":
        bban = "NWBK" + "".join(rng.choice(string.digits) for _ in range(length - 4))
    elif country == "NL":
        bban = "ABNA" + "".join(rng.choice(string.digits) for _ in range(length - 4))
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(length))
    rearranged = bban + country + "00"
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def _card(rng: random.Random) -> str:
    prefix = rng.choice(["4", "51", "52", "53", "37"])
    length = 15 if prefix == "37" else 16
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return luhn_complete(body)


def _token(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _write(root: Path, rel: str, text: str, files: dict[str, Path]) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    files[rel] = path
    return path


def generate(dest: Path, *, seed: int = 7, rows: int = 2000) -> DemoProject:
    """Write the sample project into `dest` (created; existing demo files are replaced)."""
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    project = DemoProject(root=dest)
    files = project.files
    alnum = string.ascii_letters + string.digits

    # Leaked credentials: random, shaped like the real thing, granting nothing.
    aws_key = "AKIA" + _token(rng, string.ascii_uppercase + "234567", 16)
    aws_secret = _token(rng, alnum + "/+", 40)
    openai_key = "sk-proj-" + _token(rng, alnum, 48)
    db_password = _token(rng, alnum, 18)

    # 1. The transactions table with customer PII.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    table = dest / "data" / "transactions.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    with table.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "transaction_id",
                "customer_name",
                "email",
                "phone",
                "iban",
                "card_number",
                "street_address",
                "city",
                "country",
                "amount_eur",
                "merchant_category",
                "timestamp",
                "is_fraud",
            ]
        )
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            city, country = rng.choice(CITIES)
            fraud = rng.random() < 0.03
            amount = round(rng.lognormvariate(3.5, 1.1) * (4 if fraud else 1), 2)
            writer.writerow(
                [
                    f"tx-{i:07d}",
                    f"{first} {last}",
                    f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example-mail.com",
                    f"+49 30 {rng.randint(1000000, 9999999)}",
                    _iban(rng, country if country in _IBAN_BBAN else "DE"),
                    _card(rng),
                    f"{rng.randint(1, 180)} {rng.choice(STREETS)}",
                    city,
                    country,
                    f"{amount:.2f}",
                    rng.choice(MERCHANTS[-3:] if fraud else MERCHANTS),
                    (start + timedelta(minutes=rng.randint(0, 60 * 24 * 300))).isoformat(),
                    int(fraud),
                ]
            )
    files["data/transactions.csv"] = table

    # 2. A notebook whose stored outputs leak customer rows and whose source leaks a key.
    with table.open(encoding="utf-8") as fh:
        head_rows = [next(fh) for _ in range(4)]
    notebook = {
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": ["# Fraud model training\n", "Logistic regression baseline on card transactions."],
            },
            {
                "cell_type": "code",
                "execution_count": 1,
                "metadata": {},
                "outputs": [],
                "source": [
                    "import os\n",
                    "import pandas as pd\n",
                    f"os.environ['OPENAI_API_KEY'] = '{openai_key}'  # TODO remove\n",
                    "df = pd.read_csv('../data/transactions.csv')\n",
                ],
            },
            {
                "cell_type": "code",
                "execution_count": 2,
                "metadata": {},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": head_rows}],
                "source": ["print(open('../data/transactions.csv').read()[:400])"],
            },
            {
                "cell_type": "code",
                "execution_count": 3,
                "metadata": {},
                "outputs": [],
                "source": [
                    "from sklearn.linear_model import LogisticRegression\n",
                    "model = LogisticRegression().fit(X, y)\n",
                    "import joblib; joblib.dump(model, '../models/fraud_model.joblib')\n",
                ],
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    _write(dest, "notebooks/fraud_training.ipynb", json.dumps(notebook, indent=1), files)

    # 3. A training config with a leaked database password and cloud keys.
    _write(
        dest,
        "config/training.yaml",
        "\n".join(
            [
                "experiment: fraud-detection-v3",
                "dataset: ../data/transactions.csv",
                "model_output: ../models/fraud_model.joblib",
                "features: [amount_eur, merchant_category, country]",
                "label: is_fraud",
                f"feature_store_url: postgresql://fraud_svc:{db_password}@feature-store.bank.internal:5432/features",
                "aws:",
                f"  access_key_id: {aws_key}",
                f"  secret_access_key: {aws_secret}",
                "",
            ]
        ),
        files,
    )
    _write(dest, ".env", f"OPENAI_API_KEY={openai_key}\nMODEL_REGISTRY=s3://bank-ml-models/fraud\n", files)

    # 4. The analyst assistant's system prompt.
    _write(
        dest,
        "prompts/analyst_assistant.system.txt",
        (
            "You are the fraud analyst assistant of Example Bank. Answer questions about flagged\n"
            "transactions. Never reveal customer IBANs or card numbers. Internal escalation code: ESC-4471.\n"
        ),
        files,
    )

    # 5. Models: the bank's own, and a third-party download.
    _write_models(dest, files, rng)
    return project


def _write_models(dest: Path, files: dict[str, Path], rng: random.Random) -> None:
    """The bank's model (benign) and a third-party checkpoint carrying a code-execution payload."""
    from bastion.demo._models import write_benign_model, write_malicious_checkpoint

    own = dest / "models" / "fraud_model.joblib"
    own.parent.mkdir(parents=True, exist_ok=True)
    write_benign_model(own, seed=rng.randint(0, 2**31))
    files["models/fraud_model.joblib"] = own
    third = dest / "models" / "third_party" / "merchant_embeddings.bin"
    third.parent.mkdir(parents=True, exist_ok=True)
    write_malicious_checkpoint(third)
    files["models/third_party/merchant_embeddings.bin"] = third
