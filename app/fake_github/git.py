"""Git objects for the double: blobs, trees and commits hashed as git hashes them, and refs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.fake_github.errors import ApiError

Json = dict[str, Any]

FILE_MODES = {"100644", "100755", "120000"}
TREE_MODE = "040000"
SUBMODULE_MODE = "160000"


@dataclass(frozen=True)
class Entry:
    """One leaf of a flattened tree: a file, symlink or submodule at a full path."""

    mode: str
    type: str  # "blob" | "commit"
    sha: str


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: str  # ISO 8601, as GitHub shows it


@dataclass(frozen=True)
class Commit:
    """A commit the double can walk; `tree` is None for commits known only from a snapshot."""

    sha: str
    tree: str | None
    parents: tuple[str, ...]
    message: str
    author: Person
    committer: Person
    verified: bool = False
    reason: str = "unsigned"


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def _git_mode(mode: str) -> bytes:
    # git writes tree modes without the leading zero that the REST API shows
    return (mode[1:] if mode == TREE_MODE else mode).encode()


def _tree_sha(entries: Iterable[tuple[str, str, str]]) -> str:
    """Hash one level of a tree given (name, mode, sha) entries, in git's own order."""

    def order(e: tuple[str, str, str]) -> bytes:
        # git sorts a subtree as if its name ended with "/"
        name, mode, _ = e
        return (name + "/" if mode == TREE_MODE else name).encode()

    body = b"".join(
        _git_mode(mode) + b" " + name.encode() + b"\x00" + bytes.fromhex(sha)
        for name, mode, sha in sorted(entries, key=order)
    )
    return hashlib.sha1(b"tree %d\x00" % len(body) + body, usedforsecurity=False).hexdigest()


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def commit_sha(
    tree: str, parents: Iterable[str], author: Person, committer: Person, message: str
) -> str:
    lines = [f"tree {tree}"] + [f"parent {p}" for p in parents]
    lines.append(f"author {author.name} <{author.email}> {_epoch(author.date)} +0000")
    lines.append(f"committer {committer.name} <{committer.email}> {_epoch(committer.date)} +0000")
    body = ("\n".join(lines) + "\n\n" + message).encode()
    return hashlib.sha1(b"commit %d\x00" % len(body) + body, usedforsecurity=False).hexdigest()


@dataclass
class GitStore:
    """Blobs, trees (kept flattened by path, nested levels hashed as git does), commits and refs."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, Entry]] = field(default_factory=dict)  # tree sha -> path -> leaf
    levels: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # one git level
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> commit sha

    # --- blobs -----------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        sha = blob_sha(data)
        self.blobs[sha] = data
        return sha

    # --- trees -----------------------------------------------------------------------------
    def put_tree(self, leaves: Mapping[str, Entry]) -> str:
        """Store a flattened tree, hashing every nested level; returns the root tree sha."""
        children: dict[str, dict[str, tuple[str, str]]] = {"": {}}  # dir -> name -> (mode, sha)
        for path in sorted(leaves):
            parts = path.split("/")
            for depth in range(len(parts) - 1):
                children.setdefault("/".join(parts[: depth + 1]), {})
            entry = leaves[path]
            children["/".join(parts[:-1])][parts[-1]] = (entry.mode, entry.sha)
        shas: dict[str, str] = {}
        # deepest directories first, so a parent sees its subtrees' shas
        for directory in sorted(children, key=lambda d: d.count("/") + (d != ""), reverse=True):
            entries = [(name, mode, sha) for name, (mode, sha) in children[directory].items()]
            entries += [
                (sub.rsplit("/", 1)[-1], TREE_MODE, shas[sub])
                for sub in shas
                if sub != "" and sub.rpartition("/")[0] == directory
            ]
            sha = _tree_sha(entries)
            shas[directory] = sha
            self.levels[sha] = entries
            prefix = directory + "/" if directory else ""
            self.trees[sha] = {
                p[len(prefix) :]: e for p, e in leaves.items() if p.startswith(prefix)
            }
        return shas[""]

    def tree(self, sha: str) -> dict[str, Entry]:
        try:
            return self.trees[sha]
        except KeyError:
            raise ApiError(404, "Not Found") from None

    def build_tree(self, base_tree: str | None, changes: list[Json]) -> str:
        """`POST git/trees`: apply entries (content, sha, or sha null to delete) to `base_tree`."""
        if base_tree is not None and base_tree not in self.trees:
            raise ApiError(422, f"base_tree {base_tree} is not a valid tree oid")
        leaves = dict(self.trees[base_tree]) if base_tree else {}
        for index, change in enumerate(changes):
            if not isinstance(change, dict) or not isinstance(change.get("path"), str):
                raise ApiError(
                    422, f'Invalid request.\n\n"path" wasn\'t supplied in tree[{index}].'
                )
            path = change["path"].strip("/")
            mode = str(change.get("mode") or "100644")
            kind = change.get("type") or ("tree" if mode == TREE_MODE else "blob")
            if mode not in FILE_MODES | {TREE_MODE, SUBMODULE_MODE}:
                raise ApiError(422, f"Invalid request.\n\nInvalid tree mode {mode!r} for {path}.")
            if "content" in change and change.get("sha") is not None:
                raise ApiError(422, "Invalid request.\n\nOnly one of content or sha may be given.")
            if "sha" in change and change["sha"] is None and "content" not in change:
                deleted = [p for p in leaves if p == path or p.startswith(path + "/")]
                if not deleted:
                    raise ApiError(422, "GitRPC::BadObjectState")
                for p in deleted:
                    del leaves[p]
                continue
            if "content" in change:
                content = change["content"]
                if not isinstance(content, str):
                    raise ApiError(422, f"Invalid request.\n\ncontent of {path} is not a string.")
                sha = self.put_blob(content.encode("utf-8"))
                leaves[path] = Entry(mode if mode != TREE_MODE else "100644", "blob", sha)
                continue
            given = change.get("sha")
            if not isinstance(given, str):
                raise ApiError(
                    422, f"Invalid request.\n\nEither content or sha is needed for {path}."
                )
            if kind == "tree":
                if given not in self.trees:
                    raise ApiError(422, f"Invalid tree info: tree {given} does not exist")
                for p in [p for p in leaves if p.startswith(path + "/")]:
                    del leaves[p]
                for sub, entry in self.trees[given].items():
                    leaves[f"{path}/{sub}"] = entry
            elif kind == "commit":
                leaves[path] = Entry(SUBMODULE_MODE, "commit", given)
            else:
                if given not in self.blobs:
                    raise ApiError(422, f"Invalid tree info: blob {given} does not exist")
                leaves[path] = Entry(mode, "blob", given)
        return self.put_tree(leaves)

    # --- commits ---------------------------------------------------------------------------
    def put_commit(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: Person,
        committer: Person,
        verified: bool,
    ) -> Commit:
        if tree not in self.trees:
            raise ApiError(422, "Tree SHA does not exist")
        for parent in parents:
            if parent not in self.commits:
                raise ApiError(422, "Parent SHA does not exist or is not a commit object")
        sha = commit_sha(tree, parents, author, committer, message)
        commit = Commit(
            sha=sha,
            tree=tree,
            parents=tuple(parents),
            message=message,
            author=author,
            committer=committer,
            verified=verified,
            reason="valid" if verified else "unsigned",
        )
        self.commits[sha] = commit
        return commit

    def remember_commit(self, commit: Commit) -> None:
        """Record a commit known from a snapshot (its tree may be unknown)."""
        self.commits.setdefault(commit.sha, commit)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        seen: set[str] = set()
        todo = [descendant]
        while todo:
            sha = todo.pop()
            if sha == ancestor:
                return True
            if sha in seen:
                continue
            seen.add(sha)
            known = self.commits.get(sha)
            if known is not None:
                todo.extend(known.parents)
        return False

    def reachable(self, head: str, stop: str) -> list[Commit]:
        """Commits reachable from `head` but not from `stop`, oldest first (a PR's commits)."""
        excluded: set[str] = set()
        todo = [stop]
        while todo:
            sha = todo.pop()
            if sha in excluded:
                continue
            excluded.add(sha)
            if sha in self.commits:
                todo.extend(self.commits[sha].parents)
        found: list[Commit] = []
        todo, seen = [head], set()
        while todo:
            sha = todo.pop()
            if sha in excluded or sha in seen or sha not in self.commits:
                continue
            seen.add(sha)
            found.append(self.commits[sha])
            todo.extend(self.commits[sha].parents)
        return sorted(found, key=lambda c: (_epoch(c.committer.date), c.sha))

    # --- refs ------------------------------------------------------------------------------
    def create_ref(self, ref: str, sha: str) -> str:
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise ApiError(
                422, "Reference name must start with 'refs/' and have at least two slashes."
            )
        short = ref[len("refs/") :]
        if short in self.refs:
            raise ApiError(422, "Reference already exists")
        if sha not in self.commits:
            raise ApiError(422, "Object does not exist")
        self.refs[short] = sha
        return short

    def update_ref(self, short: str, sha: str, force: bool) -> str | None:
        """Move a ref; returns the previous sha. Refuses a non-fast-forward unless forced."""
        if short not in self.refs:
            raise ApiError(422, "Reference does not exist")
        if sha not in self.commits:
            raise ApiError(422, "Object does not exist")
        before = self.refs[short]
        if not force and before != sha and not self.is_ancestor(before, sha):
            raise ApiError(422, "Update is not a fast forward")
        self.refs[short] = sha
        return before

    def resolve(self, ref: str) -> str | None:
        """A branch, tag, `heads/x`/`refs/heads/x`, or a full or short known sha -> commit sha."""
        name = ref.removeprefix("refs/")
        for candidate in (name, f"heads/{name}", f"tags/{name}"):
            if candidate in self.refs:
                return self.refs[candidate]
        lowered = ref.lower()
        if len(lowered) == 40 and lowered in self.commits:
            return lowered
        if 7 <= len(lowered) < 40 and all(c in "0123456789abcdef" for c in lowered):
            matches = [sha for sha in self.commits if sha.startswith(lowered)]
            if len(matches) == 1:
                return matches[0]
        return None
