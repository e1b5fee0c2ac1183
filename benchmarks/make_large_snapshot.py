"""Make a large self-improve target for the gathering benchmark, shaped like tests/fixtures/snapshots/small.json.

Issue #12 with hundreds of comments, linked PR #13 with hundreds of review comments, over a hundred
files and a few dozen commits, each commit with check runs (failed ones with annotations), a workflow
run whose failed jobs have long logs, and an agent-transcript artifact; plus the agent run that the
issue's label started. Every object is cloned from small.json's own, so the shapes stay GitHub's.

    python benchmarks/make_large_snapshot.py --out /tmp/large.json [--comments 320 ...]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tests" / "fixtures" / "snapshots" / "small.json"
Json = dict[str, Any]


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - fake commit ids


def _stamp(minute: int) -> str:
    day, rest = divmod(minute, 24 * 60)
    hour, minute = divmod(rest, 60)
    return f"2026-11-{10 + day:02d}T{hour:02d}:{minute:02d}:00Z"


def _log(job_name: str, lines: int, failed: bool, seed: int) -> str:
    out = [
        "2026-11-10T09:19:30.1000000Z Current runner version: '2.329.0'",
        "2026-11-10T09:19:30.3000000Z ##[group]Run actions/checkout@v5",
        "2026-11-10T09:19:30.3000001Z ##[endgroup]",
        f"2026-11-10T09:19:30.3000002Z ##[group]Run make {job_name}",
    ]
    out += [
        f"2026-11-10T09:19:31.{i:07d}Z tests/test_module_{(i * 7 + seed) % 97}.py::test_case_{i} PASSED"
        for i in range(lines)
    ]
    if failed:
        out += [
            "2026-11-10T09:21:00.0000000Z E   AssertionError: header row missing for empty table",
            "2026-11-10T09:21:00.0000001Z FAILED tests/test_export.py::test_empty_table",
            "2026-11-10T09:21:00.0000002Z ##[error]Process completed with exit code 1.",
        ]
    out.append("2026-11-10T09:21:00.0000003Z ##[endgroup]")
    return "\n".join(out) + "\n"


def build_large(
    *,
    comments: int = 320,
    pr_comments: int = 120,
    review_comments: int = 320,
    reviews: int = 40,
    files: int = 120,
    commits: int = 24,
    log_lines: int = 1500,
) -> Json:
    """A snapshot dict for issue #12 / PR #13 of acme/widgets with the given sizes."""
    data: Json = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    issue_ev = data["issues"][0]
    pr_ev = data["pull_requests"][0]
    comment_t = issue_ev["comments"][0]
    pr_comment_t = pr_ev["comments"][0] if pr_ev["comments"] else comment_t
    review_t, review_comment_t = pr_ev["reviews"][0], pr_ev["review_comments"][0]
    file_t, commit_t = pr_ev["files"][0], pr_ev["commits"][0]
    failed_check = next(c for c in pr_ev["check_runs"] if c["check_run"]["conclusion"] == "failure")
    ok_check = next(c for c in pr_ev["check_runs"] if c["check_run"]["conclusion"] == "success")
    agent_run = next(w for w in pr_ev["workflow_runs"] if w["run"]["event"] == "issues")
    ci_run = next(w for w in pr_ev["workflow_runs"] if w["run"]["event"] == "pull_request")
    session_artifact = agent_run["artifacts"][0]
    html = "https://github.com/acme/widgets"
    api = "https://api.github.com/repos/acme/widgets"

    def comment(template: Json, number: int, cid: int, minute: int, body: str) -> Json:
        c = copy.deepcopy(template)
        c.update(
            id=cid,
            node_id=f"IC_{cid}",
            body=body,
            created_at=_stamp(minute),
            updated_at=_stamp(minute),
        )
        kind = "pull" if number == 13 else "issues"
        c["html_url"] = f"{html}/{kind}/{number}#issuecomment-{cid}"
        c["url"] = f"{api}/issues/comments/{cid}"
        return c

    def commented(c: Json) -> Json:
        event = copy.deepcopy(c)
        event.update(event="commented", actor=c["user"])
        return event

    issue_comments = [
        comment(
            comment_t,
            12,
            3_700_000_000 + i,
            60 + i,
            f"Comment {i}: still failing on the empty table, see the CI log.",
        )
        for i in range(comments)
    ]
    issue_ev["comments"] = issue_comments
    keep = [e for e in issue_ev["timeline"] if e.get("event") != "commented"]
    issue_ev["timeline"] = keep + [commented(c) for c in issue_comments]

    pr = pr_ev["pull"]
    pr_ev["comments"] = [
        comment(
            pr_comment_t,
            13,
            3_800_000_000 + i,
            400 + i,
            f"PR note {i}: please run the linter before pushing.",
        )
        for i in range(pr_comments)
    ]
    shas = [_sha("commit", k) for k in range(commits)]
    pr_commits = []
    for k, sha in enumerate(shas):
        c = copy.deepcopy(commit_t)
        c.update(
            sha=sha,
            node_id=f"C_{sha[:12]}",
            html_url=f"{html}/commit/{sha}",
            url=f"{api}/commits/{sha}",
        )
        c["commit"] = {**c["commit"], "message": f"Attempt {k}: fix the export header"}
        c["parents"] = (
            [
                {
                    "sha": shas[k - 1],
                    "url": f"{api}/commits/{shas[k - 1]}",
                    "html_url": f"{html}/commit/{shas[k - 1]}",
                }
            ]
            if k
            else c.get("parents", [])
        )
        pr_commits.append(c)
    pr_ev["commits"] = pr_commits
    pr["head"] = {**pr["head"], "sha": shas[-1]}
    pr.update(commits=commits, changed_files=files, review_comments=review_comments)

    pr_ev["reviews"] = []
    for i in range(reviews):
        r = copy.deepcopy(review_t)
        rid = 2_900_000_000 + i
        r.update(id=rid, node_id=f"PRR_{rid}", commit_id=shas[i % commits], body=f"Review {i}: lint again.",
                 html_url=f"{html}/pull/13#pullrequestreview-{rid}", submitted_at=_stamp(500 + i))  # fmt: skip
        pr_ev["reviews"].append(r)
    pr_ev["review_comments"] = []
    for i in range(review_comments):
        rc = copy.deepcopy(review_comment_t)
        rcid = 2_500_000_000 + i
        rc.update(id=rcid, node_id=f"PRRC_{rcid}", body=f"Nit {i}: unused import.", commit_id=shas[i % commits],
                  html_url=f"{html}/pull/13#discussion_r{rcid}", url=f"{api}/pulls/comments/{rcid}",
                  pull_request_review_id=2_900_000_000 + i % reviews,
                  created_at=_stamp(600 + i), updated_at=_stamp(600 + i))  # fmt: skip
        rc.pop("in_reply_to_id", None)
        pr_ev["review_comments"].append(rc)
    pr_ev["files"] = []
    for i in range(files):
        f = copy.deepcopy(file_t)
        f.update(filename=f"widgets/module_{i:03d}.py", sha=_sha("blob", i))
        f["patch"] = f"@@ -1,3 +1,4 @@\n import io\n+import os\n def f_{i}():\n     return {i}"
        pr_ev["files"].append(f)
    pr_ev["timeline"] = [e for e in pr_ev["timeline"] if e.get("event") != "commented"] + [
        commented(c) for c in pr_ev["comments"]
    ]

    check_runs, workflow_runs = [], [agent_run]
    for k, sha in enumerate(shas):
        run_id = 19_100_000_000 + k
        run = copy.deepcopy(ci_run["run"])
        run.update(id=run_id, node_id=f"WFR_{run_id}", head_sha=sha, run_number=1000 + k,
                   html_url=f"{html}/actions/runs/{run_id}", url=f"{api}/actions/runs/{run_id}",
                   created_at=_stamp(700 + 10 * k), updated_at=_stamp(705 + 10 * k),
                   run_started_at=_stamp(700 + 10 * k), conclusion="failure")  # fmt: skip
        jobs = []
        for j, (name, failed) in enumerate(
            (("lint", True), ("test", k % 2 == 0), ("build", False))
        ):
            job_id = 54_000_000_000 + 10 * k + j
            job = copy.deepcopy(ci_run["jobs"][0]["job"])
            job.update(id=job_id, node_id=f"CR_{job_id}", run_id=run_id, head_sha=sha, name=name,
                       conclusion="failure" if failed else "success",
                       html_url=f"{html}/actions/runs/{run_id}/job/{job_id}",
                       url=f"{api}/actions/jobs/{job_id}", run_url=f"{api}/actions/runs/{run_id}")  # fmt: skip
            jobs.append({"job": job, "log": _log(name, log_lines if failed else 40, failed, k)})
            check = copy.deepcopy((failed_check if failed else ok_check)["check_run"])
            check.update(id=job_id, node_id=f"CR_{job_id}", head_sha=sha, name=name,
                         html_url=job["html_url"], details_url=job["html_url"],
                         url=f"{api}/check-runs/{job_id}")  # fmt: skip
            notes = copy.deepcopy(failed_check["annotations"]) if failed else []
            check["output"] = {**check["output"], "annotations_count": len(notes),
                               "annotations_url": f"{api}/check-runs/{job_id}/annotations"}  # fmt: skip
            check_runs.append({"check_run": check, "annotations": notes})
        third = copy.deepcopy(ok_check["check_run"])
        third.update(id=56_000_000_000 + k, name="codecov/patch", head_sha=sha,
                     html_url=f"{html}/runs/{56_000_000_000 + k}")  # fmt: skip
        check_runs.append({"check_run": third, "annotations": []})
        artifacts = []
        for a, name in enumerate((f"agent-transcript-{k}", f"coverage-{k}")):
            artifact_id = 4_200_000_000 + 10 * k + a
            art = copy.deepcopy(session_artifact["artifact"])
            art.update(id=artifact_id, name=name, node_id=f"MDg_{artifact_id}",
                       url=f"{api}/actions/artifacts/{artifact_id}",
                       archive_download_url=f"{api}/actions/artifacts/{artifact_id}/zip",
                       digest="sha256:" + hashlib.sha256(name.encode()).hexdigest(),
                       workflow_run={**art["workflow_run"], "id": run_id, "head_sha": sha})  # fmt: skip
            files_in = (
                dict(session_artifact["files"]) if a == 0 else {"coverage.xml": "<coverage/>"}
            )
            files_in = {f"attempt-{k}/{p}": t for p, t in files_in.items()}
            artifacts.append({"artifact": art, "files": files_in})
        workflow_runs.append({"run": run, "jobs": jobs, "artifacts": artifacts})
    pr_ev["check_runs"] = check_runs
    pr_ev["workflow_runs"] = workflow_runs
    data["agent_sessions"] = [
        {
            "source": f"artifact:{a['artifact']['id']}/{path}",
            "format": "codex-rollout",
            "content": text,
        }
        for w in workflow_runs
        for a in w["artifacts"]
        for path, text in a["files"].items()
        if path.endswith(".jsonl")
    ]
    data["expected"] = []
    return data


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--comments", type=int, default=320)
    parser.add_argument("--review-comments", type=int, default=320)
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--commits", type=int, default=24)
    parser.add_argument("--log-lines", type=int, default=1500)
    args = parser.parse_args(argv)
    data = build_large(
        comments=args.comments,
        review_comments=args.review_comments,
        files=args.files,
        commits=args.commits,
        log_lines=args.log_lines,
    )
    args.out.write_text(json.dumps(data), encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
