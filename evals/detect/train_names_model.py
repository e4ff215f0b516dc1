"""Train the shipped person-name token model (`src/bastion/data/_detect/resources/names_model.npz`).

    .venv/bin/python evals/detect/train_names_model.py

Positives: the first and last names of the shipped gazetteer (already *without*
the one-in-five names the eval holds out, see `build_gazetteer.py`) plus the
Latin-script names of ~40 further Faker locales, minus the held-out ones, so the
eval's held-out recall measures names the model never saw. Negatives: Faker's lorem word
lists (Latin-script locales), job-title words, colour names, street and company
suffixes, scikit-learn's English stop words, the ~8.5k lowercase words of CPython's
standard-library sources (fixed by the Python version), the capitalised-common-word list of
the names layer, and the shipped places that are not also names. All MIT/BSD/CC BY
sources that ship in packages; nothing is downloaded. Output is plain arrays
(float16 weights, no pickle). Prints token-level precision/recall on a 20% split
of the training names (not the eval's held-out names).
"""

from __future__ import annotations

import gzip
import importlib
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT / "src/bastion/data/_detect/resources"
sys.path.insert(0, str(ROOT / "src"))

from bastion.data._detect.namemodel import BUCKET_BITS, FORMAT_VERSION, features  # noqa: E402
from bastion.data._detect.names import _COMMON  # noqa: E402

# Latin-script locales the gazetteer does not cover: the model learns name *shape*, so
# Nigerian, Irish, Japanese (romanised), Chinese (pinyin), Vietnamese... names widen it.
# Names the eval holds out (same hash as build_gazetteer.py) are dropped here too.
EXTRA_LOCALES = ("en_NG", "yo_NG", "ig_NG", "ha_NG", "en_KE", "sw", "tw_GH", "zu_ZA", "en_IE", "ga_IE", "en_PK",
                 "en_NZ", "id_ID", "vi_VN", "es_MX", "es_CO", "es_AR", "es_CL", "pt_PT", "et_EE", "lt_LT", "lv_LV",
                 "sk_SK", "sl_SI", "hr_HR", "is_IS", "fr_CA", "fr_BE", "de_AT", "de_CH", "nl_BE", "ja_JP", "zh_CN",
                 "zh_TW", "en_TH", "fil_PH", "en_PH", "tl_PH", "az_AZ", "uz_UZ")  # fmt: skip
NAME_ATTRS = ("first_names", "first_names_male", "first_names_female", "last_names", "first_romanized_names",
              "last_romanized_names", "first_names_unisex", "middle_names")  # fmt: skip
LOREM = ("en_US", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL", "la", "da_DK", "pl_PL", "cs_CZ")


def _gz(name: str) -> set[str]:
    with gzip.open(RES / name, "rt", encoding="utf-8") as fh:
        return {line.strip() for line in fh if line.strip()}


def _attr_words(module: str, attrs: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    try:
        prov = importlib.import_module(module).Provider
    except ImportError:
        return out
    for a in attrs:
        for v in getattr(prov, a, ()) or ():
            for w in str(v).replace("-", " ").replace("/", " ").split():
                if w.isalpha() and len(w) >= 2:
                    out.add(w.capitalize())
    return out


def _latin_name(n: str) -> bool:
    return n.isalpha() and 2 <= len(n) <= 20 and n[0].isupper() and all(ord(c) < 0x250 for c in n)


def extra_names() -> set[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from build_gazetteer import held_out

    out: set[str] = set()
    for loc in EXTRA_LOCALES:
        try:
            prov = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ImportError:
            continue
        for a in NAME_ATTRS:
            vals = getattr(prov, a, None) or ()
            if not isinstance(vals, list | tuple | dict | set | frozenset):
                continue
            for v in vals.keys() if isinstance(vals, dict) else vals:
                for part in str(v).split():
                    if _latin_name(part) and not held_out(part):
                        out.add(part)
    return out


def stdlib_words(min_count: int = 3) -> set[str]:
    """Ordinary English and technical words: lowercase words of CPython's own standard library
    sources (PSF licence, ships with the interpreter), so the vocabulary is fixed by the Python version."""
    import collections
    import re
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    word = re.compile(r"(?<![A-Za-z_])[a-z]{3,20}(?![A-Za-z_0-9])")
    counts: collections.Counter[str] = collections.Counter()
    for path in sorted(root.rglob("*.py")):
        if {"site-packages", "test", "tests", "idlelib"} & set(path.parts):
            continue
        try:
            counts.update(word.findall(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return {w.capitalize() for w, n in counts.items() if n >= min_count}


def negatives(names: set[str]) -> set[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    neg: set[str] = set()
    for loc in LOREM:
        neg |= _attr_words(f"faker.providers.lorem.{loc}", ("word_list", "parts_of_speech"))
    neg |= _attr_words("faker.providers.job.en_US", ("jobs",))
    neg |= _attr_words("faker.providers.color.en_US", ("all_colors",))
    neg |= _attr_words("faker.providers.address.en_US", ("street_suffixes", "city_suffixes", "city_prefixes"))
    neg |= _attr_words("faker.providers.company.en_US", ("catch_phrase_words", "bs_words", "company_suffixes"))
    neg |= {w.capitalize() for w in ENGLISH_STOP_WORDS if w.isalpha()}
    neg |= set(_COMMON)
    neg |= stdlib_words()
    neg |= {p for p in _gz("places.txt.gz") if " " not in p and p.isalpha()}
    return {w for w in neg if w not in names}


def main() -> None:
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    names = _gz("first_names.txt.gz") | _gz("last_names.txt.gz") | extra_names()
    pos = sorted(n for n in names if n.isalpha())
    neg = sorted(negatives(names))
    rnd = random.Random(5)
    data = [(w, 1) for w in pos] + [(w, 0) for w in neg]
    rnd.shuffle(data)
    cut = int(len(data) * 0.8)
    dim = 1 << BUCKET_BITS

    def matrix(rows: list[tuple[str, int]]) -> tuple[csr_matrix, np.ndarray]:
        ind, ptr = [], [0]
        for w, _y in rows:
            f = features(w)
            ind.extend(f)
            ptr.append(len(ind))
        x = csr_matrix((np.ones(len(ind), dtype=np.float32), ind, ptr), shape=(len(rows), dim))
        x.sum_duplicates()
        return x, np.array([y for _w, y in rows])

    xtr, ytr = matrix(data[:cut])
    xva, yva = matrix(data[cut:])
    clf = LogisticRegression(C=2.0, max_iter=2000, class_weight="balanced")
    clf.fit(xtr, ytr)
    p = clf.predict_proba(xva)[:, 1]
    for t in (0.5, 0.7, 0.85):
        pred = p >= t
        tp = int((pred & (yva == 1)).sum())
        prec = tp / max(int(pred.sum()), 1)
        rec = tp / max(int((yva == 1).sum()), 1)
        print(f"validation split, threshold {t}: precision {prec:.3f} recall {rec:.3f}")
    xall, yall = matrix(data)
    clf.fit(xall, yall)
    RES.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(RES / "names_model.npz", weights=clf.coef_[0].astype(np.float16),
                        bias=np.float32(clf.intercept_[0]), bits=np.int32(BUCKET_BITS),
                        version=np.int32(FORMAT_VERSION))  # fmt: skip
    print(f"positives {len(pos)}, negatives {len(neg)}; wrote {RES / 'names_model.npz'} "
          f"({(RES / 'names_model.npz').stat().st_size} bytes)")  # fmt: skip


if __name__ == "__main__":
    main()
