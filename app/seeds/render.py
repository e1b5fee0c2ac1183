"""Placeholders in seed texts: finding `{{ name }}` and filling it in, once and verbatim."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.seeds.catalog import PLACEHOLDERS, SeedError

# `${{ … }}` is a GitHub Actions expression that a seed may quote; it is never one of ours.
_OPENING = re.compile(r"(?<!\$)\{\{")
_PLACEHOLDER = re.compile(r"(?<!\$)\{\{(?P<inner>[^{}\n]*)\}\}")
_WELL_FORMED = re.compile(r" (?P<name>[a-z][a-z0-9_]*) \Z")


@dataclass(frozen=True)
class PlaceholderUse:
    """One `{{ … }}` in a text: where, as written, and the name when it is well formed."""

    line: int
    raw: str
    name: str | None


class RenderError(SeedError):
    """A seed that cannot be filled in; lists every unknown, missing and malformed placeholder."""

    def __init__(
        self,
        *,
        unknown: tuple[str, ...] = (),
        missing: tuple[str, ...] = (),
        malformed: tuple[str, ...] = (),
        unknown_values: tuple[str, ...] = (),
    ) -> None:
        self.unknown, self.missing, self.malformed = unknown, missing, malformed
        self.unknown_values = unknown_values
        parts = []
        if unknown:
            parts.append(f"unknown placeholders in the seed: {', '.join(unknown)}")
        if missing:
            parts.append(f"no value given for: {', '.join(missing)}")
        if malformed:
            parts.append(f"malformed placeholders (write `{{{{ name }}}}`): {', '.join(malformed)}")
        if unknown_values:
            parts.append(f"values for names no seed may use: {', '.join(unknown_values)}")
        super().__init__("cannot render seed: " + "; ".join(parts))


def scan_placeholders(text: str) -> list[PlaceholderUse]:
    """Every `{{ … }}` in reading order, plus each `{{` left unclosed on its line (name None)."""
    uses: list[PlaceholderUse] = []
    for number, line in enumerate(text.splitlines(), start=1):
        closed_at: set[int] = set()
        for match in _PLACEHOLDER.finditer(line):
            closed_at.add(match.start())
            well = _WELL_FORMED.match(match["inner"])
            uses.append(PlaceholderUse(number, match[0], well["name"] if well else None))
        for opening in _OPENING.finditer(line):
            if opening.start() not in closed_at:
                uses.append(PlaceholderUse(number, line[opening.start() :].strip()[:40], None))
    return uses


def placeholders_in(text: str) -> frozenset[str]:
    """The well-formed placeholder names a text uses: the values its renderer must supply."""
    return frozenset(use.name for use in scan_placeholders(text) if use.name is not None)


def render_seed(text: str, values: Mapping[str, str]) -> str:
    """Fill every `{{ name }}` with `values[name]`, verbatim: a value is never rendered again.

    Raises RenderError naming every unknown placeholder in the text, every placeholder without a
    value, every malformed one, and every value whose name is not a known placeholder (a caller's
    typo would otherwise leave a placeholder silently unused).
    """
    uses = scan_placeholders(text)
    names = [use.name for use in uses if use.name is not None]
    unknown = tuple(sorted({n for n in names if n not in PLACEHOLDERS}))
    missing = tuple(sorted({n for n in names if n in PLACEHOLDERS and n not in values}))
    malformed = tuple(dict.fromkeys(use.raw for use in uses if use.name is None))
    unknown_values = tuple(sorted(k for k in values if k not in PLACEHOLDERS))
    if unknown or missing or malformed or unknown_values:
        raise RenderError(
            unknown=unknown, missing=missing, malformed=malformed, unknown_values=unknown_values
        )
    # One pass over the template only, with a function, so `{{`, `\1` or `$` in a value stay literal.
    return _PLACEHOLDER.sub(lambda m: values[m["inner"].strip()], text)
