"""The agent image's Dockerfile: install a missing tool with the package manager the file already uses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

SYSTEM_MANAGERS = ("apt-get", "apk", "dnf", "microdnf", "yum")
MANAGERS = (*SYSTEM_MANAGERS, "pip", "npm", "cargo")

# Tools whose home is a language registry: installing them with the OS package manager would find an
# old version or nothing. Anything not listed is taken to be an OS package.
ECOSYSTEM: dict[str, str] = {
    **dict.fromkeys(
        (
            "black", "flake8", "isort", "mypy", "nox", "pip-tools", "poetry", "pre-commit",
            "pylint", "pytest", "ruff", "tox", "uv", "pipx", "hatch", "pdm", "bandit",
        ),
        "pip",
    ),
    **dict.fromkeys(
        (
            "pnpm", "yarn", "eslint", "prettier", "typescript", "tsx", "ts-node", "pyright",
            "@biomejs/biome", "npm-check-updates", "vitest", "jest", "lerna", "turbo", "nx",
            "markdownlint-cli", "@playwright/test", "playwright",
        ),
        "npm",
    ),
    **dict.fromkeys(
        ("cargo-nextest", "cargo-deny", "cargo-audit", "cargo-edit", "sqlx-cli", "just"),
        "cargo",
    ),
}  # fmt: skip

# A package spec is a name, an optional npm scope and an optional pinned version; nothing a shell
# would read as syntax (spaces, ;, |, $, quotes, redirections) can pass.
_PACKAGE = re.compile(
    r"(?P<name>(?:@[a-z0-9][a-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._+-]*)"
    r"(?:(?:==|=|@)[A-Za-z0-9][A-Za-z0-9._+:~-]*)?\Z"
)
_ITEM_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}\Z")
_HEREDOC = re.compile(r"<<(-?)\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?")
_SEGMENT_SPLIT = re.compile(r"&&|\|\||[;|\n]")
_VERSION_CUT = re.compile(r"(==|>=|<=|~=|!=|<|>|\[|=)")
_ESCAPE_DIRECTIVE = re.compile(r"#\s*escape\s*=\s*(\S)\s*\Z", re.IGNORECASE)


class DockerfileError(ValueError):
    """The tool cannot be added safely; the message says why (the item becomes a follow-up)."""


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: keyword, arguments with continuations joined, and its line span."""

    keyword: str
    args: str
    start: int
    end: int  # inclusive


@dataclass(frozen=True)
class ToolInstall:
    """The Dockerfile after adding a tool; `changed` is False when the tool was installed already."""

    text: str
    manager: str
    package: str
    changed: bool


@dataclass(frozen=True)
class _Use:
    manager: str
    invocation: str  # how the file calls it: "pip3", "python3 -m pip", "apt-get" …
    packages: tuple[str, ...]


def _escape_char(lines: Sequence[str]) -> str:
    for line in lines:
        if not line.startswith("#"):
            break
        found = _ESCAPE_DIRECTIVE.match(line.strip())
        if found and found.group(1) in "\\`":
            return found.group(1)
    return "\\"


def parse_dockerfile(text: str) -> tuple[Instruction, ...]:
    """The instructions of a Dockerfile: continuations joined, comments dropped, heredocs kept whole."""
    lines = text.splitlines()
    escape = _escape_char(lines)
    out: list[Instruction] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start, parts = i, []
        while True:
            body = lines[i].rstrip()
            if body.endswith(escape):
                parts.append(body[:-1])
                i += 1
                # comment and blank lines inside a continuation are dropped by Docker as well
                while i < len(lines) and (
                    not lines[i].strip() or lines[i].lstrip().startswith("#")
                ):
                    i += 1
                if i < len(lines):
                    continue
                break
            parts.append(body)
            break
        joined = " ".join(p.strip() for p in parts)
        for heredoc in _HEREDOC.finditer(joined):
            word = heredoc.group(2)
            while i + 1 < len(lines):
                i += 1
                joined += "\n" + lines[i]
                closing = lines[i].lstrip("\t") if heredoc.group(1) else lines[i]
                if closing.rstrip() == word:
                    break
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start, i))
        i += 1
    return tuple(out)


@dataclass(frozen=True)
class _Chain:
    """The final stage, the stages it builds on (`FROM <alias>`), and the image at the root of them."""

    parents: list[Instruction]
    final: list[Instruction]
    root_image: str


def _final_chain(instructions: Sequence[Instruction]) -> _Chain:
    stages: list[tuple[str, str, list[Instruction]]] = []  # (alias, base, instructions)
    for ins in instructions:
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            base = words[0].lower() if words else ""
            alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
            stages.append((alias, base, [ins]))
        elif stages:
            stages[-1][2].append(ins)
    if not stages:
        raise DockerfileError("the Dockerfile has no FROM instruction")
    parents: list[Instruction] = []
    base = stages[-1][1]
    for alias, stage_base, body in reversed(stages[:-1]):
        if alias and alias == base:
            parents = body + parents
            base = stage_base
    return _Chain(parents, stages[-1][2], base)


def _image_managers(image: str) -> list[_Use]:
    """Language package managers an official base image ships (`node` has npm, `python` has pip)."""
    name = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    implied = {"node": "npm", "python": "pip", "pypy": "pip", "rust": "cargo"}.get(name)
    return [_Use(implied, implied, ())] if implied else []


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _package_name(spec: str, manager: str) -> str:
    """The bare name of a package spec: `ruff==0.6` -> ruff, `@scope/x@1` -> @scope/x, `git=1:2` -> git."""
    if manager in ("npm", "cargo"):
        head, at, _ = spec[1:].partition("@")
        return (spec[0] + head) if at else spec
    return _VERSION_CUT.split(spec, maxsplit=1)[0]


def _global(words: Sequence[str]) -> bool:
    return "-g" in words or "--global" in words


def _uses(segment: str) -> _Use | None:
    words = segment.split()
    names = [_basename(w) for w in words]
    for n, name in enumerate(names):
        rest = names[n + 1 :]
        if name in ("apt-get", "apt") and "install" in rest:
            verb = n + 1 + rest.index("install")
            return _Use("apt-get", "apt-get", tuple(words[verb + 1 :]))
        if name == "apk" and "add" in rest:
            verb = n + 1 + rest.index("add")
            return _Use("apk", "apk", tuple(words[verb + 1 :]))
        if name in ("dnf", "microdnf", "yum") and "install" in rest:
            verb = n + 1 + rest.index("install")
            return _Use(name, name, tuple(words[verb + 1 :]))
        if re.fullmatch(r"pip(?:\d+(?:\.\d+)?)?", name) and "install" in rest:
            verb = n + 1 + rest.index("install")
            return _Use("pip", words[n], tuple(words[verb + 1 :]))
        if re.fullmatch(r"python(?:\d+(?:\.\d+)?)?", name) and rest[:3] == ["-m", "pip", "install"]:
            return _Use("pip", " ".join(words[n : n + 3]), tuple(words[n + 4 :]))
        if name == "npm" and rest[:1] in (["install"], ["i"], ["add"]) and _global(rest):
            return _Use("npm", "npm", tuple(words[n + 2 :]))
        if name == "cargo" and rest[:1] == ["install"]:
            return _Use("cargo", "cargo", tuple(words[n + 2 :]))
    return None


def _uses_in(instruction: Instruction) -> list[_Use]:
    if instruction.keyword != "RUN":
        return []
    found = (_uses(seg) for seg in _SEGMENT_SPLIT.split(instruction.args))
    return [u for u in found if u is not None]


def _all_uses(chain: _Chain) -> list[tuple[int, _Use]]:
    """Every install in the chain: (index in the final stage, or -1 for inherited ones, the use)."""
    inherited = [(-1, u) for u in _image_managers(chain.root_image)]
    inherited += [(-1, u) for ins in chain.parents for u in _uses_in(ins)]
    return inherited + [(n, u) for n, ins in enumerate(chain.final) for u in _uses_in(ins)]


def package_managers(text: str) -> tuple[str, ...]:
    """The package managers the final image's RUN instructions use (or its base image implies)."""
    uses = _all_uses(_final_chain(parse_dockerfile(text)))
    return tuple(dict.fromkeys(u.manager for _, u in uses))


def _choose_manager(package: str, present: Sequence[str], manager: str | None) -> str:
    if manager is not None:
        if manager not in MANAGERS:
            raise DockerfileError(f"{manager!r} is not a package manager the updater knows")
        if manager not in present:
            raise DockerfileError(f"the Dockerfile installs nothing with {manager}")
        return manager
    found = _PACKAGE.match(package)
    home = ECOSYSTEM.get(found.group("name").lower()) if found else None
    if home is not None:
        if home not in present:
            raise DockerfileError(
                f"{package} comes from {home}, which the Dockerfile does not use; add it by hand"
            )
        return home
    system = [m for m in present if m in SYSTEM_MANAGERS]
    if not system:
        raise DockerfileError(
            f"the Dockerfile uses no OS package manager ({', '.join(SYSTEM_MANAGERS)}) for {package}"
        )
    return system[0]


def _is_root(user: str) -> bool:
    return user.split(":", 1)[0].strip() in ("root", "0")


def _install_lines(manager: str, invocation: str, package: str, escape: str) -> list[str]:
    if manager == "apt-get":
        return [
            f"RUN apt-get update {escape}",
            f" && apt-get install -y --no-install-recommends {package} {escape}",
            " && rm -rf /var/lib/apt/lists/*",
        ]
    if manager == "apk":
        return [f"RUN apk add --no-cache {package}"]
    if manager in ("dnf", "microdnf", "yum"):
        return [f"RUN {manager} install -y {package} && {manager} clean all"]
    if manager == "pip":
        return [f"RUN {invocation} install --no-cache-dir {package}"]
    if manager == "npm":
        return [f"RUN npm install -g {package}"]
    return [f"RUN cargo install --locked {package}"]


def _user_before(final: Sequence[Instruction], index: int, initial: str) -> str:
    user = initial
    for ins in final[:index]:
        if ins.keyword == "USER" and ins.args:
            user = ins.args.split()[0]
    return user


def add_tool(
    text: str,
    package: str,
    *,
    manager: str | None = None,
    item_id: str = "",
    path: str = "Dockerfile",
) -> ToolInstall:
    """Install `package` in the final stage with a package manager the file already uses.

    The RUN goes before the final stage's last switch to a non-root USER (so it runs as the user the
    file installs as, and the image still drops privileges), or after the last install of that
    manager when the stage never drops them. It switches to root only when the file does so itself.
    """
    where = path or "Dockerfile"
    spec = package.strip()
    if not _PACKAGE.match(spec):
        raise DockerfileError(f"{where}: {package!r} is not a plain package name")
    instructions = parse_dockerfile(text)
    chain = _final_chain(instructions)
    uses = _all_uses(chain)
    chosen = _choose_manager(spec, list(dict.fromkeys(u.manager for _, u in uses)), manager)
    name = _package_name(spec, chosen)
    mine = [(n, u) for n, u in uses if u.manager == chosen]
    if any(name in {_package_name(p, chosen) for p in u.packages} for _, u in mine):
        return ToolInstall(text, chosen, spec, changed=False)
    invocation = next(
        (u.invocation for _, u in reversed(mine) if u.packages), mine[-1][1].invocation
    )
    if chosen == "pip" and any("--break-system-packages" in u.packages for _, u in mine):
        spec_words = f"--break-system-packages {spec}"  # the file's pip needs it (PEP 668)
    else:
        spec_words = spec

    final = chain.final
    users = [n for n, ins in enumerate(final) if ins.keyword == "USER" and ins.args]
    lines = text.splitlines(keepends=True)
    if users and not _is_root(final[users[-1]].args):
        index = users[-1]
        at = final[index].start
        while at > 0 and lines[at - 1].lstrip().startswith("#"):
            at -= 1  # a comment right above the USER line belongs to it
    else:
        runs = [n for n, ins in enumerate(final) if ins.keyword == "RUN"]
        index = ([n for n, _ in mine if n >= 0] or runs or [0])[-1] + 1
        at = final[index - 1].end + 1
    user = _user_before(final, index, _user_before(chain.parents, len(chain.parents), "root"))

    escape = _escape_char(text.splitlines())
    label = item_id if _ITEM_ID.match(item_id) else "self-improve"
    block = [f"# {label}: {spec} was missing from the agent's environment (added by self-improve)."]
    block += _install_lines(chosen, invocation, spec_words, escape)
    if not _is_root(user):
        if not any(ins.keyword == "USER" and _is_root(ins.args) for ins in instructions):
            raise DockerfileError(
                f"{where}: installing {spec} needs root, but the image runs as {user!r} there and"
                " the file never switches to root"
            )
        block = [block[0], "USER root", *block[1:], f"USER {user}"]
    nl = "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += nl
    lead = [nl] if at > 0 and lines[at - 1].strip() else []
    tail = [nl] if at < len(lines) and lines[at].strip() else []
    new = [*lines[:at], *lead, *(ln + nl for ln in block), *tail, *lines[at:]]
    return ToolInstall("".join(new), chosen, spec, changed=True)
