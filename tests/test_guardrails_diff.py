"""The unified-diff parser: files, hunks, numbered lines, renames, and clear errors on malformed input."""

from __future__ import annotations

import pytest

from app.guardrails.diff import DiffError, apply_file_diff, old_line_of, parse_diff

TWO_FILES = """From 1234 Mon Sep 17 00:00:00 2001
Subject: [PATCH] edit

diff --git a/AGENTS.md b/AGENTS.md
index 23fae38..9a3935b 100644
--- a/AGENTS.md
+++ b/AGENTS.md
@@ -2,3 +2,3 @@ ## Rules
 a
-b
+B
 c
@@ -10,2 +10,3 @@
 x
+y
 z
diff --git a/docs/new.md b/docs/new.md
new file mode 100644
index 0000000..1111111
--- /dev/null
+++ b/docs/new.md
@@ -0,0 +1,2 @@
+first
+second
\\ No newline at end of file
"""
SIGNATURE = "-- \n2.40.0\n"  # `git format-patch` ends with this; its trailing space is part of it


def test_two_files_with_numbered_lines() -> None:
    """Each file's hunks keep old/new numbers and group the lines changed together."""
    agents, new = parse_diff(TWO_FILES + SIGNATURE)
    assert (agents.old_path, agents.new_path, new.old_path, new.new_path) == (
        "AGENTS.md", "AGENTS.md", None, "docs/new.md",
    )  # fmt: skip
    first, second = agents.hunks
    assert first.section == "## Rules"
    assert [(line.kind, line.old_no, line.new_no) for line in first.lines] == [
        ("context", 2, 2), ("removed", 3, None), ("added", None, 3), ("context", 4, 4),
    ]  # fmt: skip
    assert first.lines[1].group == first.lines[2].group != second.lines[1].group
    assert new.is_new and not new.is_deleted
    assert [line.text for line in new.lines()] == ["first", "second"]


def test_rename_deletion_and_quoted_names() -> None:
    """Renames, deleted files and C-quoted non-ASCII names are read from the git headers."""
    text = (
        "diff --git a/old.md b/new.md\nsimilarity index 100%\nrename from old.md\nrename to new.md\n"
        "diff --git a/gone.md b/gone.md\ndeleted file mode 100644\n--- a/gone.md\n+++ /dev/null\n"
        "@@ -1 +0,0 @@\n-bye\n"
        'diff --git "a/\\320\\277.md" "b/\\320\\277.md"\n--- "a/\\320\\277.md"\n+++ "b/\\320\\277.md"\n'
        "@@ -1 +1 @@\n-a\n+b\n"
    )
    renamed, gone, quoted = parse_diff(text)
    assert (renamed.old_path, renamed.new_path, renamed.hunks) == ("old.md", "new.md", ())
    assert gone.is_deleted and gone.path == "gone.md"
    assert quoted.path == "п.md"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no 'diff --git'"),
        ("just words\n", "no 'diff --git'"),
        ("@@ -1 +1 @@\n-a\n+b\n", "hunk header without a file header"),
        ("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n", "ends early"),
        ("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n?b\n", "does not match its header"),
        ("--- a/x\n+++ b/x\n@@ bogus @@\n", "malformed hunk header"),
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\nstray text\n", "unexpected text"),
    ],
    ids=["empty", "prose", "orphan-hunk", "truncated", "bad-line", "bad-header", "trailing-junk"],
)
def test_malformed_input_names_the_problem(text: str, message: str) -> None:
    """Anything that is not a well-formed unified diff raises DiffError saying what and where."""
    with pytest.raises(DiffError, match=message):
        parse_diff(text)


def test_apply_and_line_mapping() -> None:
    """Hunks applied to the old text give the new text; unchanged lines map back to old numbers."""
    before = "".join(f"{c}\n" for c in "abcdefghijklmnopqrstuvwxyz")
    text = "--- a/f\n+++ b/f\n@@ -2,3 +2,4 @@\n b\n-c\n+C\n+C2\n d\n@@ -20,2 +21,1 @@\n t\n-u\n"
    (fd,) = parse_diff(text)
    after = apply_file_diff(before, fd)
    assert after.splitlines()[:5] == ["a", "b", "C", "C2", "d"]
    assert "u" not in after.splitlines()
    assert old_line_of(fd, 1) == 1
    assert old_line_of(fd, 3) is None
    assert old_line_of(fd, 5) == 4
    assert old_line_of(fd, 10) == 9
    assert old_line_of(fd, 22) == 22


def test_apply_refuses_a_mismatched_file() -> None:
    """A hunk whose context is not in the file is an error naming the file and line."""
    (fd,) = parse_diff("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n")
    with pytest.raises(DiffError, match=r"f: the diff does not apply at old line 1"):
        apply_file_diff("z\n", fd)
