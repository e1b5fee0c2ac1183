"""The repository world the double serves: built from a snapshot, changed by writes, read as JSON.

Every method takes `now` (epoch seconds) when time matters and raises `ApiError` where GitHub
would answer with an error; nothing here does I/O.
"""

from __future__ import annotations

import base64
import copy
import difflib
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

from app.fake_github import checks
from app.fake_github.errors import ApiError, not_found, validation_failed
from app.fake_github.git import Commit, Entry, GitStore, Person
from app.fake_github.identity import Addresses, AppIdentity, iso, node_id
from app.snapshot import Snapshot

Json = dict[str, Any]

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
MAX_COMMENT_BODY = 65536
SEED_DATE = "2026-01-01T00:00:00Z"


def _empty_reactions(url: str) -> Json:
    return {"url": url, "total_count": 0, **{r: 0 for r in REACTIONS}}


def _wrap64(data: bytes) -> str:
    # the contents and blobs APIs wrap base64 at 60 columns with "\n"
    raw = base64.b64encode(data).decode()
    return "".join(raw[i : i + 60] + "\n" for i in range(0, len(raw), 60))


def _person(data: Any, fallback: Person) -> Person:
    if not isinstance(data, dict):
        return fallback
    return Person(
        name=str(data.get("name") or fallback.name),
        email=str(data.get("email") or fallback.email),
        date=str(data.get("date") or fallback.date),
    )


def unified_patch(before: str, after: str) -> tuple[str, int, int]:
    """The `patch` GitHub shows for one file (hunks only), with additions and deletions."""
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3))[
        2:
    ]
    additions = sum(1 for line in lines if line.startswith("+"))
    deletions = sum(1 for line in lines if line.startswith("-"))
    return "\n".join(lines), additions, deletions


@dataclass
class World:
    """One repository's issues, pulls, checks, Actions data and git objects."""

    app: AppIdentity
    repo: Json
    at: Addresses
    issues: dict[int, Json] = field(default_factory=dict)
    comments: dict[int, Json] = field(default_factory=dict)
    thread: dict[int, list[int]] = field(default_factory=dict)  # number -> comment ids
    timelines: dict[int, list[Json]] = field(default_factory=dict)
    pulls: dict[int, Json] = field(default_factory=dict)
    reviews: dict[int, list[Json]] = field(default_factory=dict)
    review_comments: dict[int, list[Json]] = field(default_factory=dict)
    pr_files: dict[int, list[Json]] = field(default_factory=dict)
    pr_commits: dict[int, list[Json]] = field(default_factory=dict)
    labels: dict[str, Json] = field(default_factory=dict)
    reactions: dict[tuple[str, int], list[Json]] = field(default_factory=dict)
    check_runs: dict[int, Json] = field(default_factory=dict)
    annotations: dict[int, list[Json]] = field(default_factory=dict)
    runs: dict[int, list[Json]] = field(default_factory=dict)  # run id -> attempts, oldest first
    jobs: dict[int, Json] = field(default_factory=dict)
    logs: dict[int, str | None] = field(default_factory=dict)
    artifacts: dict[int, Json] = field(default_factory=dict)
    artifact_files: dict[int, dict[str, str]] = field(default_factory=dict)
    rest_commits: dict[str, Json] = field(default_factory=dict)
    known_shas: set[str] = field(default_factory=set)
    permissions: dict[str, str] = field(default_factory=dict)
    git: GitStore = field(default_factory=GitStore)
    created_pulls: set[int] = field(default_factory=set)
    next_id: int = 1

    # --- building ------------------------------------------------------------------------------
    @staticmethod
    def from_snapshot(snapshot: Snapshot, app: AppIdentity) -> World:
        repo = copy.deepcopy(snapshot.repository)
        repo.setdefault("name", snapshot.full_name.split("/")[1])
        repo.setdefault("default_branch", snapshot.default_branch)
        repo.setdefault(
            "owner", {"login": snapshot.full_name.split("/")[0], "type": "Organization"}
        )
        world = World(app=app, repo=repo, at=Addresses.of(repo))
        world.permissions = dict(snapshot.permissions)
        ids: list[int] = [int(repo.get("id") or 0)]
        for evidence in snapshot.issues:
            issue = copy.deepcopy(evidence.issue)
            world._seed_thread(int(issue["number"]), issue, evidence.comments, evidence.timeline)
            ids.append(int(issue.get("id") or 0))
        for pr in snapshot.pull_requests:
            pull = copy.deepcopy(pr.pull)
            number = int(pull["number"])
            world.pulls[number] = pull
            issue = world.issues.get(number) or world._issue_view_of(pull)
            world._seed_thread(number, issue, pr.comments, pr.timeline)
            world.reviews[number] = copy.deepcopy(pr.reviews)
            world.review_comments[number] = copy.deepcopy(pr.review_comments)
            world.pr_files[number] = copy.deepcopy(pr.files)
            world.pr_commits[number] = copy.deepcopy(pr.commits)
            ids += [int(pull.get("id") or 0)]
            ids += [int(o.get("id") or 0) for o in pr.reviews + pr.review_comments]
            for rest in pr.commits:
                world._remember_rest_commit(rest)
            for head_or_base in ("head", "base"):
                side = pull.get(head_or_base) or {}
                if side.get("sha"):
                    world.known_shas.add(str(side["sha"]))
            for evidence_run in pr.check_runs:
                run = copy.deepcopy(evidence_run.check_run)
                world.check_runs[int(run["id"])] = run
                world.annotations[int(run["id"])] = copy.deepcopy(evidence_run.annotations)
                world.known_shas.add(str(run.get("head_sha", "")))
                ids.append(int(run["id"]))
            for wr in pr.workflow_runs:
                run = copy.deepcopy(wr.run)
                attempts = world.runs.setdefault(int(run["id"]), [])
                attempts.append(run)
                attempts.sort(key=lambda r: int(r.get("run_attempt") or 1))
                world.known_shas.add(str(run.get("head_sha", "")))
                ids.append(int(run["id"]))
                for job in wr.jobs:
                    world.jobs[int(job.job["id"])] = copy.deepcopy(job.job)
                    world.logs[int(job.job["id"])] = job.log
                    ids.append(int(job.job["id"]))
                for art in wr.artifacts:
                    artifact = copy.deepcopy(art.artifact)
                    world.artifacts[int(artifact["id"])] = artifact
                    world.artifact_files[int(artifact["id"])] = dict(art.files)
                    ids.append(int(artifact["id"]))
        ids += list(world.comments)
        world.next_id = max(ids) + 1
        world._seed_git(snapshot)
        return world

    def _seed_thread(
        self, number: int, issue: Json, comments: list[Json], timeline: list[Json]
    ) -> None:
        self.issues[number] = issue
        for comment in comments:
            self.comments[int(comment["id"])] = copy.deepcopy(comment)
        ids = [int(c["id"]) for c in comments]
        known = self.thread.get(number, [])
        self.thread[number] = known + [i for i in ids if i not in known]
        if timeline or number not in self.timelines:
            self.timelines[number] = copy.deepcopy(timeline)
        for label in issue.get("labels") or []:
            if isinstance(label, dict) and label.get("name"):
                self.labels.setdefault(str(label["name"]), label)

    def _issue_view_of(self, pull: Json) -> Json:
        """A pull request seen through the issues API, as GitHub serves it."""
        number = int(pull["number"])
        keys = (
            "id",
            "node_id",
            "title",
            "user",
            "labels",
            "state",
            "locked",
            "assignee",
            "assignees",
            "milestone",
            "created_at",
            "updated_at",
            "closed_at",
            "author_association",
            "body",
            "draft",
        )
        issue = {k: copy.deepcopy(pull.get(k)) for k in keys}
        issue.update(
            number=number,
            url=self._api(f"issues/{number}"),
            repository_url=self._api(""),
            labels_url=self._api(f"issues/{number}/labels{{/name}}"),
            comments_url=self._api(f"issues/{number}/comments"),
            events_url=self._api(f"issues/{number}/events"),
            html_url=str(pull.get("html_url") or self._web(f"pull/{number}")),
            comments=int(pull.get("comments") or 0),
            pull_request={
                "url": self._api(f"pulls/{number}"),
                "html_url": str(pull.get("html_url") or self._web(f"pull/{number}")),
                "diff_url": self._web(f"pull/{number}.diff"),
                "patch_url": self._web(f"pull/{number}.patch"),
                "merged_at": pull.get("merged_at"),
            },
            reactions=_empty_reactions(self._api(f"issues/{number}/reactions")),
            timeline_url=self._api(f"issues/{number}/timeline"),
            performed_via_github_app=None,
        )
        return issue

    def _remember_rest_commit(self, rest: Json) -> None:
        sha = str(rest["sha"])
        self.rest_commits[sha] = copy.deepcopy(rest)
        self.known_shas.add(sha)
        inner = rest.get("commit") or {}
        fallback = Person("unknown", "unknown@example.com", SEED_DATE)
        self.git.remember_commit(
            Commit(
                sha=sha,
                tree=None,
                parents=tuple(str(p["sha"]) for p in rest.get("parents") or []),
                message=str(inner.get("message") or ""),
                author=_person(inner.get("author"), fallback),
                committer=_person(inner.get("committer"), fallback),
                verified=bool((inner.get("verification") or {}).get("verified")),
            )
        )

    def _seed_git(self, snapshot: Snapshot) -> None:
        """The default branch head is a commit whose tree holds the snapshot's `files`."""
        leaves = {
            path.strip("/"): Entry("100644", "blob", self.git.put_blob(text.encode("utf-8")))
            for path, text in snapshot.files.items()
        }
        tree = self.git.put_tree(leaves)
        date = snapshot.captured_at or SEED_DATE
        seeder = Person("GitHub", "noreply@github.com", date)
        head = self.git.put_commit(
            tree, [], "Repository files at snapshot time", seeder, seeder, True
        )
        self.git.refs[f"heads/{self.default_branch}"] = head.sha
        for pull in self.pulls.values():
            for side in ("head", "base"):
                part = pull.get(side) or {}
                ref, sha = part.get("ref"), part.get("sha")
                repo = part.get("repo") or {}
                same_repo = repo.get("full_name", self.full_name) == self.full_name
                if ref and sha and same_repo and ref != self.default_branch:
                    if str(sha) not in self.git.commits:
                        self.git.remember_commit(Commit(str(sha), None, (), "", seeder, seeder))
                    self.git.refs.setdefault(f"heads/{ref}", str(sha))

    # --- addressing ------------------------------------------------------------------------------
    @property
    def full_name(self) -> str:
        return str(self.repo["full_name"])

    @property
    def default_branch(self) -> str:
        return str(self.repo.get("default_branch") or "main")

    def _api(self, tail: str) -> str:
        base = f"{self.at.api}/repos/{self.full_name}"
        return f"{base}/{tail}" if tail else base

    def _web(self, tail: str) -> str:
        return f"{self.at.web}/{self.full_name}/{tail}"

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def bot(self) -> Json:
        return self.app.bot_user(self.at)

    # --- repository, people ----------------------------------------------------------------------
    def repository(self) -> Json:
        return self.repo

    def permission_of(self, username: str) -> Json:
        role = self.permissions.get(username, "read")
        # the legacy field folds maintain into write and triage into read (docs: collaborators)
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        if legacy not in {"admin", "write", "read", "none"}:
            legacy = "read"
        user = self.at.user(username, zlib.crc32(username.encode()) % 10**8)
        user["permissions"] = {
            "admin": legacy == "admin",
            "maintain": role in {"admin", "maintain"},
            "push": legacy in {"admin", "write"},
            "triage": legacy in {"admin", "write"} or role == "triage",
            "pull": legacy != "none",
        }
        user["role_name"] = role
        return {"permission": legacy, "role_name": role, "user": user}

    # --- issues and comments ---------------------------------------------------------------------
    def issue(self, number: int) -> Json:
        issue = self.issues.get(number)
        if issue is None:
            raise not_found()
        return issue

    def list_issues(self, state: str) -> list[Json]:
        chosen = [i for n, i in self.issues.items() if state == "all" or i.get("state") == state]
        return sorted(chosen, key=lambda i: int(i["number"]), reverse=True)

    def issue_comments(self, number: int) -> list[Json]:
        self.issue(number)
        return [self.comments[i] for i in self.thread.get(number, []) if i in self.comments]

    def comment(self, comment_id: int) -> Json:
        found = self.comments.get(comment_id)
        if found is None:
            raise not_found()
        return found

    def _check_body(self, body: Any, resource: str) -> str:
        if not isinstance(body, str):
            raise ApiError(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
        if len(body) > MAX_COMMENT_BODY:
            raise validation_failed(
                resource,
                "body",
                "custom",
                f"Body is too long (maximum is {MAX_COMMENT_BODY} characters)",
            )
        return body

    def create_comment(self, number: int, body: Any, user: Json, now: float) -> Json:
        issue = self.issue(number)
        text = self._check_body(body, "IssueComment")
        comment_id = self._new_id()
        comment = {
            "url": self._api(f"issues/comments/{comment_id}"),
            "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
            "issue_url": self._api(f"issues/{number}"),
            "id": comment_id,
            "node_id": node_id("IC", comment_id),
            "user": user,
            "created_at": iso(now),
            "updated_at": iso(now),
            "author_association": "NONE",
            "body": text,
            "reactions": _empty_reactions(self._api(f"issues/comments/{comment_id}/reactions")),
            "performed_via_github_app": self.app.app_object(self.at),
        }
        self.comments[comment_id] = comment
        self.thread.setdefault(number, []).append(comment_id)
        issue["comments"] = int(issue.get("comments") or 0) + 1
        if number in self.pulls:
            self.pulls[number]["comments"] = issue["comments"]
        self.timelines.setdefault(number, []).append(
            {"event": "commented", "id": comment_id, "actor": user}
        )
        return comment

    def edit_comment(self, comment_id: int, body: Any, now: float) -> Json:
        comment = self.comment(comment_id)
        comment["body"] = self._check_body(body, "IssueComment")
        comment["updated_at"] = iso(now)
        return comment

    def delete_comment(self, comment_id: int) -> None:
        self.comment(comment_id)
        del self.comments[comment_id]
        for number, ids in self.thread.items():
            if comment_id in ids:
                ids.remove(comment_id)
                issue = self.issues[number]
                issue["comments"] = max(0, int(issue.get("comments") or 1) - 1)

    def timeline(self, number: int) -> list[Json]:
        """Timeline items; `commented` items show the comment as it is now (edits, deletions)."""
        self.issue(number)
        items: list[Json] = []
        for item in self.timelines.get(number, []):
            if item.get("event") == "commented" and "id" in item:
                current = self.comments.get(int(item["id"]))
                if current is None:
                    continue
                items.append(
                    {
                        **item,
                        **current,
                        "event": "commented",
                        "actor": item.get("actor") or current.get("user"),
                    }
                )
            else:
                items.append(item)
        return items

    # --- labels ----------------------------------------------------------------------------------
    def issue_labels(self, number: int) -> list[Json]:
        return list(self.issue(number).get("labels") or [])

    def _label(self, name: str) -> Json:
        if name not in self.labels:
            label_id = self._new_id()
            self.labels[name] = {
                "id": label_id,
                "node_id": node_id("LA", label_id),
                "url": self._api(f"labels/{name}"),
                "name": name,
                "color": "ededed",
                "default": False,
                "description": None,
            }
        return self.labels[name]

    def _label_event(self, number: int, event: str, name: str, actor: Json, now: float) -> None:
        event_id = self._new_id()
        label = self.labels.get(name, {"color": "ededed"})
        self.timelines.setdefault(number, []).append(
            {
                "id": event_id,
                "node_id": node_id("LE", event_id),
                "url": self._api(f"issues/events/{event_id}"),
                "actor": actor,
                "event": event,
                "commit_id": None,
                "commit_url": None,
                "created_at": iso(now),
                "label": {"name": name, "color": label.get("color", "ededed")},
                "performed_via_github_app": self.app.app_object(self.at),
            }
        )

    @staticmethod
    def label_names(body: Any) -> list[str]:
        """`POST labels` takes `{"labels": [...]}` or a bare list; names or `{name}` objects."""
        raw = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(raw, list) or not raw:
            raise ApiError(422, 'Invalid request.\n\n"labels" wasn\'t supplied.')
        names = [r.get("name") if isinstance(r, dict) else r for r in raw]
        if not all(isinstance(n, str) and n for n in names):
            raise ApiError(422, "Invalid request.\n\nFor 'items', label names must be strings.")
        return [str(n) for n in names]

    def add_labels(self, number: int, names: list[str], actor: Json, now: float) -> list[Json]:
        issue = self.issue(number)
        current = list(issue.get("labels") or [])
        present = {str(label.get("name")) for label in current}
        for name in names:
            if name not in present:
                current.append(self._label(name))
                present.add(name)
                self._label_event(number, "labeled", name, actor, now)
        issue["labels"] = current
        self._sync_pull(number)
        return current

    def set_labels(self, number: int, names: list[str], actor: Json, now: float) -> list[Json]:
        for label in self.issue_labels(number):
            if label.get("name") not in names:
                self.remove_label(number, str(label.get("name")), actor, now)
        return self.add_labels(number, names, actor, now) if names else self.issue_labels(number)

    def remove_label(self, number: int, name: str, actor: Json, now: float) -> list[Json]:
        issue = self.issue(number)
        current = list(issue.get("labels") or [])
        kept = [label for label in current if label.get("name") != name]
        if len(kept) == len(current):
            raise ApiError(404, "Label does not exist")
        issue["labels"] = kept
        self._label_event(number, "unlabeled", name, actor, now)
        self._sync_pull(number)
        return kept

    def _sync_pull(self, number: int) -> None:
        if number in self.pulls:
            self.pulls[number]["labels"] = copy.deepcopy(self.issues[number].get("labels") or [])

    # --- reactions -------------------------------------------------------------------------------
    def reactions_of(self, kind: str, subject_id: int, content: str | None = None) -> list[Json]:
        self._reaction_subject(kind, subject_id)
        found = self.reactions.get((kind, subject_id), [])
        return [r for r in found if content is None or r["content"] == content]

    def _reaction_subject(self, kind: str, subject_id: int) -> Json:
        return self.comment(subject_id) if kind == "comment" else self.issue(subject_id)

    def react(
        self, kind: str, subject_id: int, content: Any, user: Json, now: float
    ) -> tuple[Json, bool]:
        """Add a reaction; returns (reaction, created). The same user+content again is not new."""
        subject = self._reaction_subject(kind, subject_id)
        if content not in REACTIONS:
            raise validation_failed("Reaction", "content", "invalid")
        existing = self.reactions.setdefault((kind, subject_id), [])
        for reaction in existing:
            if reaction["content"] == content and reaction["user"].get("login") == user.get(
                "login"
            ):
                return reaction, False
        reaction_id = self._new_id()
        reaction = {
            "id": reaction_id,
            "node_id": node_id("REA", reaction_id),
            "user": user,
            "content": content,
            "created_at": iso(now),
        }
        existing.append(reaction)
        rollup = subject.get("reactions")
        if isinstance(rollup, dict):
            rollup["total_count"] = int(rollup.get("total_count") or 0) + 1
            rollup[str(content)] = int(rollup.get(str(content)) or 0) + 1
        return reaction, True

    # --- pull requests ---------------------------------------------------------------------------
    def pull(self, number: int) -> Json:
        found = self.pulls.get(number)
        if found is None:
            raise not_found()
        return found

    def list_pulls(self, state: str, head: str | None, base: str | None) -> list[Json]:
        owner = self.full_name.split("/")[0]
        chosen = []
        for pull in self.pulls.values():
            if state != "all" and pull.get("state") != state:
                continue
            head_part = pull.get("head") or {}
            if head is not None:
                want_owner, _, want_ref = head.rpartition(":")
                label_owner = str(head_part.get("label", "")).partition(":")[0] or owner
                if head_part.get("ref") != want_ref or (want_owner and want_owner != label_owner):
                    continue
            if base is not None and (pull.get("base") or {}).get("ref") != base:
                continue
            chosen.append(pull)
        return sorted(chosen, key=lambda p: int(p["number"]), reverse=True)

    def _side(self, ref: str, sha: str) -> Json:
        owner = self.repo.get("owner") or {}
        return {
            "label": f"{owner.get('login', self.full_name.split('/')[0])}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": owner,
            "repo": self.repo,
        }

    def create_pull(self, body: Json, user: Json, now: float) -> Json:
        owner = self.full_name.split("/")[0]
        title, head, base = body.get("title"), body.get("head"), body.get("base")
        if (
            not isinstance(head, str)
            or not isinstance(base, str)
            or (not title and not body.get("issue"))
        ):
            missing = [k for k in ("title", "head", "base") if not body.get(k)]
            raise ApiError(
                422, f"Invalid request.\n\n{', '.join(repr(m) for m in missing)} wasn't supplied."
            )
        head_owner, _, head_ref = head.rpartition(":")
        if head_owner and head_owner != owner:
            raise validation_failed("PullRequest", "head", "invalid")
        base_sha = self.git.refs.get(f"heads/{base}")
        if base_sha is None:
            raise validation_failed("PullRequest", "base", "invalid")
        head_sha = self.git.refs.get(f"heads/{head_ref}")
        if head_sha is None:
            raise validation_failed("PullRequest", "head", "invalid")
        if any((p.get("base") or {}).get("ref") == base for p in self._open_on(head_ref)):
            raise ApiError(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {owner}:{head_ref}.",
                    }
                ],
            )
        if not self.git.reachable(head_sha, base_sha):
            raise ApiError(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"No commits between {base} and {head_ref}",
                    }
                ],
            )
        number = max([0, *self.issues, *self.pulls]) + 1
        pull_id = self._new_id()
        pull: Json = {
            "url": self._api(f"pulls/{number}"),
            "id": pull_id,
            "node_id": node_id("PR", pull_id),
            "html_url": self._web(f"pull/{number}"),
            "diff_url": self._web(f"pull/{number}.diff"),
            "patch_url": self._web(f"pull/{number}.patch"),
            "issue_url": self._api(f"issues/{number}"),
            "number": number,
            "state": "open",
            "locked": False,
            "title": str(title or f"Issue #{body.get('issue')}"),
            "user": user,
            "body": body.get("body"),
            "created_at": iso(now),
            "updated_at": iso(now),
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "labels": [],
            "milestone": None,
            "draft": bool(body.get("draft", False)),
            "commits_url": self._api(f"pulls/{number}/commits"),
            "review_comments_url": self._api(f"pulls/{number}/comments"),
            "review_comment_url": self._api("pulls/comments{/number}"),
            "comments_url": self._api(f"issues/{number}/comments"),
            "statuses_url": self._api(f"statuses/{head_sha}"),
            "head": self._side(head_ref, head_sha),
            "base": self._side(base, base_sha),
            "_links": {
                "self": {"href": self._api(f"pulls/{number}")},
                "html": {"href": self._web(f"pull/{number}")},
                "issue": {"href": self._api(f"issues/{number}")},
                "comments": {"href": self._api(f"issues/{number}/comments")},
            },
            "author_association": "NONE",
            "auto_merge": None,
            "active_lock_reason": None,
            "merged": False,
            "mergeable": None,
            "rebaseable": None,
            "mergeable_state": "unknown",
            "merged_by": None,
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": bool(body.get("maintainer_can_modify", False)),
        }
        self.pulls[number] = pull
        self.created_pulls.add(number)
        self._seed_thread(number, self._issue_view_of(pull), [], [])
        self._refresh_diff(number)
        return pull

    def _refresh_diff(self, number: int) -> None:
        """A created PR's commits and files, computed from its head and base as GitHub does."""
        pull = self.pulls[number]
        head_sha, base_sha = pull["head"]["sha"], pull["base"]["sha"]
        commits = self.git.reachable(head_sha, base_sha)
        self.pr_commits[number] = [self.rest_commit(c.sha) for c in commits]
        base_leaves = self._tree_of(base_sha)
        head_leaves = self._tree_of(head_sha)
        files: list[Json] = []
        for path in sorted(set(base_leaves) | set(head_leaves)):
            before, after = base_leaves.get(path), head_leaves.get(path)
            if before == after:
                continue
            old = self.git.blobs.get(before.sha, b"") if before else b""
            new = self.git.blobs.get(after.sha, b"") if after else b""
            patch, additions, deletions = unified_patch(
                old.decode("utf-8", "replace"), new.decode("utf-8", "replace")
            )
            status = "added" if before is None else "removed" if after is None else "modified"
            present = after or before
            sha = present.sha if present is not None else ""
            files.append(
                {
                    "sha": sha,
                    "filename": path,
                    "status": status,
                    "additions": additions,
                    "deletions": deletions,
                    "changes": additions + deletions,
                    "blob_url": self._web(f"blob/{head_sha}/{path}"),
                    "raw_url": self._web(f"raw/{head_sha}/{path}"),
                    "contents_url": self._api(f"contents/{path}?ref={head_sha}"),
                    "patch": patch,
                }
            )
        self.pr_files[number] = files
        pull.update(
            commits=len(commits),
            additions=sum(f["additions"] for f in files),
            deletions=sum(f["deletions"] for f in files),
            changed_files=len(files),
        )

    def _tree_of(self, sha: str) -> dict[str, Entry]:
        commit = self.git.commits.get(sha)
        if commit is None or commit.tree is None:
            return {}
        return self.git.trees.get(commit.tree, {})

    def update_pull(self, number: int, body: Json, now: float) -> Json:
        pull = self.pull(number)
        issue = self.issues[number]
        for key in ("title", "body"):
            if key in body:
                pull[key] = issue[key] = body[key]
        if "state" in body:
            if body["state"] not in {"open", "closed"}:
                raise validation_failed("PullRequest", "state", "invalid")
            pull["state"] = issue["state"] = body["state"]
            pull["closed_at"] = issue["closed_at"] = iso(now) if body["state"] == "closed" else None
        if "base" in body:
            sha = self.git.refs.get(f"heads/{body['base']}")
            if sha is None:
                raise validation_failed("PullRequest", "base", "invalid")
            pull["base"] = self._side(str(body["base"]), sha)
        if "maintainer_can_modify" in body:
            pull["maintainer_can_modify"] = bool(body["maintainer_can_modify"])
        pull["updated_at"] = issue["updated_at"] = iso(now)
        if number in self.created_pulls:
            self._refresh_diff(number)
        return pull

    def _open_on(self, ref: str) -> list[Json]:
        return [self.pulls[n] for n in self.pulls_on_branch(ref)]

    def pulls_on_branch(self, ref: str) -> list[int]:
        return [
            n
            for n, p in self.pulls.items()
            if p.get("state") == "open" and (p.get("head") or {}).get("ref") == ref
        ]

    def pr_part(self, number: int, part: str) -> list[Json]:
        self.pull(number)
        table: dict[int, list[Json]] = getattr(self, part)
        return table.get(number, [])

    # --- check runs ------------------------------------------------------------------------------
    def check_run(self, run_id: int) -> Json:
        found = self.check_runs.get(run_id)
        if found is None:
            raise not_found()
        return found

    def check_runs_for(
        self, ref: str, *, name: str | None, status: str | None, latest: bool, app_id: int | None
    ) -> list[Json]:
        sha = self.resolve_sha(ref)
        chosen = [r for r in self.check_runs.values() if r.get("head_sha") == sha]
        if name is not None:
            chosen = [r for r in chosen if r.get("name") == name]
        if status is not None:
            chosen = [r for r in chosen if r.get("status") == status]
        if app_id is not None:
            chosen = [r for r in chosen if (r.get("app") or {}).get("id") == app_id]
        if latest:
            # filter=latest (the default) keeps the newest run per name (docs: check runs)
            newest: dict[str, Json] = {}
            for run in chosen:
                key = str(run.get("name"))
                if key not in newest or (str(run.get("started_at") or ""), int(run["id"])) > (
                    str(newest[key].get("started_at") or ""),
                    int(newest[key]["id"]),
                ):
                    newest[key] = run
            chosen = [r for r in chosen if newest.get(str(r.get("name"))) is r]
        return sorted(chosen, key=lambda r: int(r["id"]), reverse=True)

    def create_check_run(self, body: Json, now: float) -> Json:
        fields = checks.check_run_body(body, creating=True)
        sha = str(body["head_sha"]).lower()
        # GitHub takes a full commit sha here, not a branch name or a short sha
        if len(sha) != 40 or self.resolve_sha(sha) != sha:
            raise ApiError(422, f"No commit found for SHA: {body['head_sha']}")
        run_id = self._new_id()
        status = fields.get("status", "queued")
        annotations = fields.pop("annotations")
        run: Json = {
            "id": run_id,
            "name": fields["name"],
            "node_id": node_id("CR", run_id),
            "head_sha": sha,
            "external_id": fields.get("external_id", ""),
            "url": self._api(f"check-runs/{run_id}"),
            "html_url": self._web(f"runs/{run_id}"),
            "details_url": fields.get("details_url") or self._web(f"runs/{run_id}"),
            "status": status,
            "conclusion": fields.get("conclusion"),
            "started_at": fields.get("started_at") or iso(now),
            "completed_at": fields.get("completed_at")
            or (iso(now) if status == "completed" else None),
            "output": {
                "title": None,
                "summary": None,
                "text": None,
                "annotations_count": 0,
                "annotations_url": self._api(f"check-runs/{run_id}/annotations"),
            },
            "check_suite": {"id": self._new_id()},
            "app": self.app.app_object(self.at),
            "pull_requests": [
                self._pull_ref(n)
                for n, p in self.pulls.items()
                if p.get("state") == "open" and p["head"].get("sha") == sha
            ],
        }
        self.check_runs[run_id] = run
        self.annotations[run_id] = []
        self._apply_check_fields(run, fields, annotations)
        return run

    def _pull_ref(self, number: int) -> Json:
        pull = self.pulls[number]
        small = {"id": self.repo.get("id"), "url": self._api(""), "name": self.repo.get("name")}
        return {
            "url": pull["url"],
            "id": pull["id"],
            "number": number,
            "head": {"ref": pull["head"]["ref"], "sha": pull["head"]["sha"], "repo": small},
            "base": {"ref": pull["base"]["ref"], "sha": pull["base"]["sha"], "repo": small},
        }

    def _apply_check_fields(self, run: Json, fields: Json, annotations: list[Json]) -> None:
        output = fields.pop("output", None)
        for key, value in fields.items():
            run[key] = value
        if output is not None:
            run["output"].update(output)
        for annotation in annotations:
            annotation.setdefault("title", None)
            annotation.setdefault("raw_details", None)
            annotation.setdefault(
                "blob_href", self._web(f"blob/{run['head_sha']}/{annotation['path']}")
            )
            self.annotations[int(run["id"])].append(annotation)
        run["output"]["annotations_count"] = len(self.annotations[int(run["id"])])

    def update_check_run(self, run_id: int, body: Json, now: float) -> Json:
        run = self.check_run(run_id)
        owner = (run.get("app") or {}).get("id")
        if owner != self.app.id:
            raise ApiError(
                403,
                f"Invalid app_id `{owner}` - check run can only be modified by the GitHub App that "
                "created it.",
            )
        fields = checks.check_run_body(body, creating=False)
        annotations = fields.pop("annotations")
        if fields.get("status") == "completed" and "completed_at" not in fields:
            fields["completed_at"] = run.get("completed_at") or iso(now)
        self._apply_check_fields(run, fields, annotations)
        return run

    def check_annotations(self, run_id: int) -> list[Json]:
        self.check_run(run_id)
        return self.annotations.get(run_id, [])

    # --- Actions ---------------------------------------------------------------------------------
    def run(self, run_id: int, attempt: int | None = None) -> Json:
        attempts = self.runs.get(run_id)
        if not attempts:
            raise not_found()
        if attempt is None:
            return attempts[-1]
        for run in attempts:
            if int(run.get("run_attempt") or 1) == attempt:
                return run
        raise not_found()

    def list_runs(self, filters: dict[str, str]) -> list[Json]:
        chosen = []
        for attempts in self.runs.values():
            run = attempts[-1]
            if "head_sha" in filters and run.get("head_sha") != filters["head_sha"]:
                continue
            if "branch" in filters and run.get("head_branch") != filters["branch"]:
                continue
            if "event" in filters and run.get("event") != filters["event"]:
                continue
            if "status" in filters and filters["status"] not in (
                run.get("status"),
                run.get("conclusion"),
            ):
                continue
            if "actor" in filters and (run.get("actor") or {}).get("login") != filters["actor"]:
                continue
            chosen.append(run)
        return sorted(chosen, key=lambda r: int(r["id"]), reverse=True)

    def run_jobs(self, run_id: int, *, latest: bool, attempt: int | None = None) -> list[Json]:
        run = self.run(run_id, attempt)
        want = int(run.get("run_attempt") or 1)
        chosen = [j for j in self.jobs.values() if int(j.get("run_id") or 0) == run_id]
        if latest or attempt is not None:
            chosen = [j for j in chosen if int(j.get("run_attempt") or 1) == want]
        return sorted(chosen, key=lambda j: int(j["id"]))

    def job(self, job_id: int) -> Json:
        found = self.jobs.get(job_id)
        if found is None:
            raise not_found()
        return found

    def job_log(self, job_id: int) -> str:
        self.job(job_id)
        log = self.logs.get(job_id)
        if log is None:
            raise not_found()
        return log

    def run_artifacts(self, run_id: int, name: str | None) -> list[Json]:
        self.run(run_id)
        chosen = [
            a
            for a in self.artifacts.values()
            if int((a.get("workflow_run") or {}).get("id") or 0) == run_id
            and (name is None or a.get("name") == name)
        ]
        return sorted(chosen, key=lambda a: int(a["id"]), reverse=True)

    def artifact(self, artifact_id: int) -> Json:
        found = self.artifacts.get(artifact_id)
        if found is None:
            raise not_found()
        return found

    def artifact_zip(self, artifact_id: int) -> bytes:
        artifact = self.artifact(artifact_id)
        if artifact.get("expired"):
            raise ApiError(410, "Artifact has expired")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, text in sorted(self.artifact_files.get(artifact_id, {}).items()):
                # a fixed timestamp keeps the archive identical between runs
                info = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, text.encode("utf-8"))
        return buffer.getvalue()

    # --- git data and contents -------------------------------------------------------------------
    def resolve_sha(self, ref: str) -> str:
        """A ref as the commits and check-runs endpoints resolve it, else GitHub's 422."""
        sha = self.git.resolve(ref)
        if sha is None and len(ref) == 40 and ref.lower() in self.known_shas:
            sha = ref.lower()
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        return sha

    def ref_object(self, short: str) -> Json:
        sha = self.git.refs.get(short)
        if sha is None:
            raise not_found()
        return {
            "ref": f"refs/{short}",
            "node_id": node_id("REF", short),
            "url": self._api(f"git/refs/{short}"),
            "object": {"sha": sha, "type": "commit", "url": self._api(f"git/commits/{sha}")},
        }

    def create_ref(self, body: Json) -> Json:
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not isinstance(sha, str):
            raise ApiError(422, 'Invalid request.\n\n"ref", "sha" weren\'t supplied.')
        return self.ref_object(self.git.create_ref(ref, sha))

    def update_ref(self, short: str, body: Json) -> tuple[Json, str | None]:
        sha = body.get("sha")
        if not isinstance(sha, str):
            raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        before = self.git.update_ref(
            short.removeprefix("refs/"), sha, bool(body.get("force", False))
        )
        branch = short.removeprefix("refs/").removeprefix("heads/")
        for number in self.pulls_on_branch(branch):
            pull = self.pulls[number]
            pull["head"]["sha"] = sha
            if number in self.created_pulls:
                self._refresh_diff(number)
        return self.ref_object(short.removeprefix("refs/")), before

    def delete_ref(self, short: str) -> None:
        if self.git.refs.pop(short.removeprefix("refs/"), None) is None:
            raise ApiError(422, "Reference does not exist")

    def create_blob(self, body: Json) -> Json:
        content, encoding = body.get("content"), body.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise ApiError(422, 'Invalid request.\n\n"content" wasn\'t supplied.')
        if encoding == "utf-8":
            data = content.encode("utf-8")
        elif encoding == "base64":
            try:
                data = base64.b64decode(content, validate=False)
            except ValueError:
                raise ApiError(422, "Invalid request.\n\ncontent is not valid Base64.") from None
        else:
            raise ApiError(
                422, f"Invalid request.\n\nencoding {encoding!r} is not utf-8 or base64."
            )
        sha = self.git.put_blob(data)
        return {"url": self._api(f"git/blobs/{sha}"), "sha": sha}

    def blob(self, sha: str) -> Json:
        data = self.git.blobs.get(sha)
        if data is None:
            raise not_found()
        return {
            "sha": sha,
            "node_id": node_id("B", sha),
            "size": len(data),
            "url": self._api(f"git/blobs/{sha}"),
            "content": _wrap64(data),
            "encoding": "base64",
        }

    def create_tree(self, body: Json) -> Json:
        entries = body.get("tree")
        if not isinstance(entries, list):
            raise ApiError(422, 'Invalid request.\n\n"tree" wasn\'t supplied.')
        base = body.get("base_tree")
        sha = self.git.build_tree(str(base) if base else None, entries)
        return self.tree_object(sha, recursive=False)

    def tree_object(self, sha: str, *, recursive: bool) -> Json:
        self.git.tree(sha)
        items: list[Json] = []

        def walk(tree_sha: str, prefix: str) -> None:
            for name, mode, child in sorted(self.git.levels.get(tree_sha, [])):
                path = prefix + name
                if mode == "040000":
                    items.append(
                        {
                            "path": path,
                            "mode": mode,
                            "type": "tree",
                            "sha": child,
                            "url": self._api(f"git/trees/{child}"),
                        }
                    )
                    if recursive:
                        walk(child, path + "/")
                else:
                    kind = "commit" if mode == "160000" else "blob"
                    item: Json = {"path": path, "mode": mode, "type": kind, "sha": child}
                    if kind == "blob":
                        item["size"] = len(self.git.blobs.get(child, b""))
                        item["url"] = self._api(f"git/blobs/{child}")
                    items.append(item)

        walk(sha, "")
        return {"sha": sha, "url": self._api(f"git/trees/{sha}"), "tree": items, "truncated": False}

    def create_commit(self, body: Json, now: float) -> Json:
        message, tree, parents = body.get("message"), body.get("tree"), body.get("parents", [])
        if not isinstance(message, str) or not isinstance(tree, str):
            missing = [k for k in ("message", "tree") if not isinstance(body.get(k), str)]
            raise ApiError(
                422, f"Invalid request.\n\n{', '.join(repr(m) for m in missing)} wasn't supplied."
            )
        if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
            raise ApiError(
                422,
                "Invalid request.\n\nFor 'properties/parents', value is not an array of strings.",
            )
        bot = Person(self.app.bot_login, self.app.bot_email(), iso(now))
        author = _person(body.get("author"), bot)
        committer = _person(body.get("committer"), author)
        # GitHub signs only when the App gives no author, committer or signature (docs: bot signing)
        verified = not any(body.get(k) for k in ("author", "committer", "signature"))
        if verified:
            committer = Person("GitHub", "noreply@github.com", iso(now))
        commit = self.git.put_commit(tree, list(parents), message, author, committer, verified)
        return self.git_commit(commit.sha)

    def git_commit(self, sha: str) -> Json:
        commit = self.git.commits.get(sha)
        if commit is None:
            raise not_found()
        rest = self.rest_commits.get(sha)
        tree = commit.tree or ((rest or {}).get("commit") or {}).get("tree", {}).get("sha")
        return {
            "sha": sha,
            "node_id": node_id("C", sha),
            "url": self._api(f"git/commits/{sha}"),
            "html_url": self._web(f"commit/{sha}"),
            "author": {
                "name": commit.author.name,
                "email": commit.author.email,
                "date": commit.author.date,
            },
            "committer": {
                "name": commit.committer.name,
                "email": commit.committer.email,
                "date": commit.committer.date,
            },
            "tree": {"sha": tree, "url": self._api(f"git/trees/{tree}")},
            "message": commit.message,
            "parents": [
                {
                    "sha": p,
                    "url": self._api(f"git/commits/{p}"),
                    "html_url": self._web(f"commit/{p}"),
                }
                for p in commit.parents
            ],
            "verification": {
                "verified": commit.verified,
                "reason": commit.reason,
                "signature": None,
                "payload": None,
                "verified_at": commit.committer.date if commit.verified else None,
            },
        }

    def rest_commit(self, ref: str) -> Json:
        sha = self.resolve_sha(ref)
        if sha in self.rest_commits:
            return self.rest_commits[sha]
        commit = self.git.commits.get(sha)
        if commit is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        git = self.git_commit(sha)
        bot = self.bot() if commit.author.email == self.app.bot_email() else None
        inner = {k: git[k] for k in ("author", "committer", "message", "tree", "verification")}
        return {
            "sha": sha,
            "node_id": git["node_id"],
            "commit": {**inner, "url": git["url"], "comment_count": 0},
            "url": self._api(f"commits/{sha}"),
            "html_url": git["html_url"],
            "comments_url": self._api(f"commits/{sha}/comments"),
            "author": bot,
            "committer": None,
            "parents": [
                {
                    "sha": p["sha"],
                    "url": self._api(f"commits/{p['sha']}"),
                    "html_url": p["html_url"],
                }
                for p in git["parents"]
            ],
        }

    def branch(self, name: str) -> Json:
        sha = self.git.refs.get(f"heads/{name}")
        if sha is None:
            raise ApiError(404, "Branch not found")
        return {
            "name": name,
            "commit": self.rest_commit(sha),
            "_links": {"self": self._api(f"branches/{name}"), "html": self._web(f"tree/{name}")},
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {
                    "enforcement_level": "off",
                    "contexts": [],
                    "checks": [],
                },
            },
            "protection_url": self._api(f"branches/{name}/protection"),
        }

    def contents(self, path: str, ref: str | None) -> tuple[Json | list[Json], bytes | None]:
        """A file (its JSON and raw bytes) or a directory listing at `ref` (default branch)."""
        name = ref or self.default_branch
        sha = self.git.resolve(name)
        if sha is None:
            raise ApiError(404, f"No commit found for the ref {name}")
        leaves = self._tree_of(sha)
        path = path.strip("/")
        if path in leaves:
            entry = leaves[path]
            data = self.git.blobs.get(entry.sha, b"")
            return self._content_item(path, entry.sha, "file", name, len(data), data), data
        prefix = path + "/" if path else ""
        children: dict[str, tuple[str, str]] = {}
        for leaf_path, entry in leaves.items():
            if leaf_path.startswith(prefix):
                head, _, rest = leaf_path[len(prefix) :].partition("/")
                children.setdefault(head, ("dir" if rest else "file", entry.sha))
        if not children:
            raise not_found()
        listing = []
        for child, (kind, blob) in sorted(children.items()):
            child_path = prefix + child
            if kind == "dir":
                listing.append(
                    self._content_item(
                        child_path, self._dir_sha(sha, child_path), "dir", name, 0, None
                    )
                )
            else:
                size = len(self.git.blobs.get(blob, b""))
                listing.append(self._content_item(child_path, blob, "file", name, size, None))
        return listing, None

    def _dir_sha(self, commit_sha: str, path: str) -> str:
        commit = self.git.commits[commit_sha]
        tree = commit.tree or ""
        for part in path.split("/"):
            tree = next((s for n, m, s in self.git.levels.get(tree, []) if n == part), "")
        return tree

    def _content_item(
        self, path: str, sha: str, kind: str, ref: str, size: int, data: bytes | None
    ) -> Json:
        git_url = self._api(f"git/{'trees' if kind == 'dir' else 'blobs'}/{sha}")
        html = self._web(f"{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}")
        item: Json = {
            "type": kind,
            "size": size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": self._api(f"contents/{path}?ref={ref}"),
            "git_url": git_url,
            "html_url": html,
            "download_url": None
            if kind == "dir"
            else f"https://raw.githubusercontent.com/{self.full_name}/{ref}/{path}",
            "_links": {
                "self": self._api(f"contents/{path}?ref={ref}"),
                "git": git_url,
                "html": html,
            },
        }
        if data is not None:
            item["encoding"] = "base64"
            item["content"] = _wrap64(data)
        return item
