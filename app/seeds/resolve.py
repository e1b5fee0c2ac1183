"""Which seed file answers a (stage, role, kind, locale) request: the fallback chain, decided purely."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.seeds.catalog import (
    DEFAULT_BASE,
    FALLBACK_STAGE,
    KINDS,
    NAME_TOKEN,
    ROLE_PREFIX,
    SeedError,
    normalise_locale,
    seed_file_name,
)


@dataclass(frozen=True)
class ChainStep:
    """One rung of the chain: what it stands for (`stage+kind+locale`) and the file name it tries."""

    step: str
    name: str


@dataclass(frozen=True)
class Resolution:
    """The file chosen (None = the built-in seed) and every name tried, in order, up to the chosen one."""

    chosen: str | None
    tried: tuple[str, ...]


def resolution_chain(
    stage: str | None, role: str | None, kind: str, locale: str
) -> tuple[ChainStep, ...]:
    """The names to try, most specific first; steps without their stage or role are left out.

    stage+role+kind+locale -> stage+role+kind -> role+kind+locale -> role+kind -> stage+kind+locale
    -> stage+kind -> dev+kind+locale -> dev+kind -> default+kind+locale -> default+kind. A name that
    an earlier step already tried (stage `dev`, locale spelled out twice) appears once.
    """
    if kind not in KINDS:
        raise SeedError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    for what, value in (("stage", stage), ("role", role)):
        if value is not None and not NAME_TOKEN.match(value):
            raise SeedError(f"{what} {value!r} is not a seed name (lowercase letters, digits, '-')")
    loc = normalise_locale(locale)
    bases: list[tuple[str, str]] = []
    if stage and role:
        bases.append(("stage+role", f"{stage}-{role}-{kind}"))
    if role:
        bases.append(("role", f"{ROLE_PREFIX}{role}-{kind}"))
    if stage:
        bases.append(("stage", f"{stage}-{kind}"))
    bases += [
        (FALLBACK_STAGE, f"{FALLBACK_STAGE}-{kind}"),
        (DEFAULT_BASE, f"{DEFAULT_BASE}-{kind}"),
    ]
    steps: list[ChainStep] = []
    seen: set[str] = set()
    for label, base in bases:
        for step, name in (
            (f"{label}+kind+locale", seed_file_name(base, loc)),
            (f"{label}+kind", seed_file_name(base, None)),
        ):
            if name not in seen:
                seen.add(name)
                steps.append(ChainStep(step, name))
    return tuple(steps)


def resolve_seed(
    available: Iterable[str], stage: str | None, role: str | None, kind: str, locale: str
) -> Resolution:
    """Walk the chain over the available file names; the first that exists wins.

    `<stage>-<kind>.md` is the English seed and `<stage>-<kind>_ru.md` the Russian one; for locale
    `en` the chain first tries `<stage>-<kind>_en.md`, so an explicit English file may exist too.
    Role seeds are spelled `role-<role>-<kind>_<locale>.md`; an unsuffixed role file, if any, is the
    locale-neutral fallback. Raises SeedError for a kind, stage, role or locale that cannot name a file.
    """
    names = frozenset(available)
    tried: list[str] = []
    for step in resolution_chain(stage, role, kind, locale):
        tried.append(step.name)
        if step.name in names:
            return Resolution(step.name, tuple(tried))
    return Resolution(None, tuple(tried))
