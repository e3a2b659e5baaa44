"""Text normalization: Unicode form, control characters, whitespace. Pure text -> text.

Then the user's own transforms (`normalize.transforms`, see `quality.plugins`), in order.
"""

from __future__ import annotations

import re
import threading
import unicodedata

from quality.plugins import load_plugin

# C0/C1 controls except \t and \n; \r is handled by newline folding first.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The same set as ASCII bytes (C1 controls are not ASCII): an ASCII text is checked for them with
# bytes.translate, a C loop ~3x faster than the regex search; the regex then runs only on a hit.
_ASCII_CONTROL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
# Interior runs only: leading indentation carries meaning in code and is never touched.
_SPACES = re.compile(r"(?<=\S)[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]{2,}(?=\S)")


def _has_control(text: str) -> bool:
    """Whether `text` holds a character `_CONTROL` removes (a fast test first for ASCII text)."""
    if text.isascii():
        data = text.encode("ascii")
        return len(data.translate(None, _ASCII_CONTROL)) != len(data)
    return _CONTROL.search(text) is not None


class Normalizer:
    """Normalizes text as configured (see `NormalizeConfig`); callable, picklable.

    Plugin transforms travel as names and are built on first use in each process (a worker
    imports their module there), so the normalizer pickles whatever the plugins hold.
    """

    def __init__(
        self,
        unicode_form: str = "NFC",
        strip_control: bool = True,
        collapse_spaces: bool = False,
        strip_lines: bool = True,
        max_blank_lines: int = 2,
        transforms: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.unicode_form = None if unicode_form == "none" else unicode_form
        self.strip_control = strip_control
        self.collapse_spaces = collapse_spaces
        self.strip_lines = strip_lines
        self.max_blank_lines = max_blank_lines
        self._blank_runs = (
            re.compile(rf"\n{{{max_blank_lines + 2},}}") if max_blank_lines >= 0 else None
        )
        self.transforms = tuple(transforms)
        self._steps: list | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_steps": None, "_lock": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def _plugin_steps(self) -> list:
        with self._lock:
            if self._steps is None:
                self._steps = [load_plugin(n, "transform")().transform for n in self.transforms]
            return self._steps

    @classmethod
    def from_config(cls, cfg) -> Normalizer:
        return cls(
            cfg.unicode_form,
            cfg.strip_control,
            cfg.collapse_spaces,
            cfg.strip_lines,
            cfg.max_blank_lines,
            cfg.transforms,
        )

    def __call__(self, text: str) -> str:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if self.unicode_form and not text.isascii():
            text = unicodedata.normalize(self.unicode_form, text)
        if self.strip_control and _has_control(text):
            text = _CONTROL.sub("", text)
        if self.collapse_spaces:
            text = _SPACES.sub(" ", text)
        if self.strip_lines and ("\t\n" in text or " \n" in text):
            # Spaces and tabs at each line's end (what `[ \t]+$` in multi-line mode removes),
            # line by line: ~6x faster than that regex, which tries a match at every space.
            # Only texts with such a line are split: the last line's trailing blanks are removed
            # by the final `strip()` anyway (blank runs never reach past them), and two substring
            # tests spare most texts one Python string per line.
            text = "\n".join([line.rstrip(" \t") for line in text.split("\n")])
        # A run of blank lines is rare: a substring test spares most texts the regex scan.
        if self._blank_runs is not None and "\n" * (self.max_blank_lines + 2) in text:
            text = self._blank_runs.sub("\n" * (self.max_blank_lines + 1), text)
        text = text.strip()
        if self.transforms:
            for step in self._plugin_steps():
                text = step(text)
        return text
