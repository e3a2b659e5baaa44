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
# Interior runs only: leading indentation carries meaning in code and is never touched.
_SPACES = re.compile(r"(?<=\S)[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]{2,}(?=\S)")
_TRAILING = re.compile(r"[ \t]+$", re.M)


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
        if self.strip_control:
            text = _CONTROL.sub("", text)
        if self.collapse_spaces:
            text = _SPACES.sub(" ", text)
        if self.strip_lines:
            text = _TRAILING.sub("", text)
        if self._blank_runs is not None:
            text = self._blank_runs.sub("\n" * (self.max_blank_lines + 1), text)
        text = text.strip()
        if self.transforms:
            for step in self._plugin_steps():
                text = step(text)
        return text
