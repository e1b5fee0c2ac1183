"""GitHub's REST routes as the double answers them: thin handlers over the world, and the table."""

from __future__ import annotations

import secrets

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.fake_github.auth import mint_token
from app.fake_github.errors import not_found
from app.fake_github.identity import AppIdentity, iso
from app.fake_github.outbox import deliver, emit
from app.fake_github.runtime import (
    BLOB_TTL,
    Blob,
    Call,
    Handler,
    Json,
    Reply,
    Route,
    json_response,
    page_of,
    paginate,
    per_page_of,
)
from app.fake_github.state import World


# --- app and installation -------------------------------------------------------------------------
async def get_app(call: Call) -> Reply:
    return call.rt.app.app_object(call.world.at)


def _installation(call: Call) -> Json:
    return call.rt.app.installation_object(call.world.at, call.world.repo.get("owner") or {})


async def list_installations(call: Call) -> Reply:
    return paginate(call, [_installation(call)])


async def get_installation(call: Call) -> Reply:
    if call.int_param("installation_id") != call.rt.app.installation_id:
        raise not_found()
    return _installation(call)


async def get_repo_installation(call: Call) -> Reply:
    full = f"{call.params['owner']}/{call.params['repo']}"
    if full.lower() != call.world.full_name.lower():
        raise not_found()
    return _installation(call)


async def create_access_token(call: Call) -> Reply:
    if call.int_param("installation_id") != call.rt.app.installation_id:
        raise not_found()
    body = call.body if isinstance(call.body, dict) else {}
    repos = {call.world.full_name: int(call.world.repo.get("id") or 0)}
    token = mint_token(
        app=call.rt.app,
        body=body,
        repositories=repos,
        now=call.rt.now(),
        ttl=call.rt.config.token_ttl,
    )
    call.rt.tokens[token.value] = token
    reply: Json = {
        "token": token.value,
        "expires_at": iso(token.expires_at),
        "permissions": token.permissions,
        "repository_selection": "selected" if token.repositories is not None else "all",
    }
    if token.repositories is not None:
        reply["repositories"] = [call.world.repo]
    return json_response(reply, status=201)


async def installation_repositories(call: Call) -> Reply:
    repos = [call.world.repo] if call.token and call.token.reaches(call.world.full_name) else []
    per_page, page = per_page_of(call.query), page_of(call.query)
    chunk = repos[(page - 1) * per_page : page * per_page]
    return {"total_count": len(repos), "repository_selection": "selected", "repositories": chunk}


async def revoke_token(call: Call) -> Reply:
    if call.token is not None:
        call.rt.tokens.pop(call.token.value, None)
    return web.Response(status=204)


async def rate_limit(call: Call) -> Reply:
    key = f"token:{call.token.value}" if call.token else "anonymous"
    headers = call.rt.limits.count(key, call.rt.now(), charge=False)
    core = {
        "limit": int(headers["x-ratelimit-limit"]),
        "remaining": int(headers["x-ratelimit-remaining"]),
        "reset": int(headers["x-ratelimit-reset"]),
        "used": int(headers["x-ratelimit-used"]),
        "resource": "core",
    }
    return {"resources": {"core": core}, "rate": core}


async def list_deliveries(call: Call) -> Reply:
    per_page = per_page_of(call.query)
    page, cursor = call.rt.hooks.page(per_page, call.query.get("cursor"))
    response = json_response([d.summary() for d in page])
    if cursor is not None:
        query = {**call.query, "per_page": str(per_page), "cursor": cursor}
        response.headers["Link"] = f'<{call.request.url.with_query(query)}>; rel="next"'
    return response


async def get_delivery(call: Call) -> Reply:
    return call.rt.hooks.get(call.int_param("delivery_id")).detail()


async def redeliver(call: Call) -> Reply:
    original = call.rt.hooks.get(call.int_param("delivery_id"))
    await deliver(call.rt, original.event, original.payload, guid=original.guid, redelivery=True)
    return json_response({}, status=202)


async def convert_manifest(call: Call) -> Reply:
    registered = call.rt.manifest_codes.pop(call.params["code"], None)
    if registered is None:
        raise not_found()
    manifest = registered.get("manifest") or {}
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    name = str(manifest.get("name") or call.rt.app.name)
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    app = AppIdentity(
        id=int(registered.get("app_id") or call.rt.app.id),
        slug=slug,
        name=name,
        client_id=f"Iv23li{secrets.token_hex(7)}",
        owner_login=call.rt.app.owner_login,
        permissions=dict(manifest.get("default_permissions") or call.rt.app.permissions),
        events=tuple(manifest.get("default_events") or call.rt.app.events),
        installation_id=call.rt.app.installation_id,
        bot_user_id=call.rt.app.bot_user_id,
        created_at=iso(call.rt.now()),
    )
    webhook_secret = secrets.token_hex(20)
    # from now on the double is that App: its JWTs verify with the new key, hooks use the secret
    call.rt.app = app
    call.rt.world.app = app
    call.rt.key = key.public_key()
    call.rt.config.webhook_secret = webhook_secret
    hook = manifest.get("hook_attributes") or {}
    if isinstance(hook, dict) and hook.get("url"):
        call.rt.config.webhook_url = str(hook["url"])
    reply = {
        **app.app_object(call.world.at),
        "pem": pem,
        "webhook_secret": webhook_secret,
        "client_secret": secrets.token_hex(20),
    }
    return json_response(reply, status=201)


# --- repository reads -----------------------------------------------------------------------------
async def get_repo(call: Call) -> Reply:
    return call.world.repository()


async def collaborator_permission(call: Call) -> Reply:
    return call.world.permission_of(call.params["username"])


async def list_issues(call: Call) -> Reply:
    return paginate(call, call.world.list_issues(call.query.get("state", "open")))


async def get_issue(call: Call) -> Reply:
    return call.world.issue(call.int_param("issue_number"))


async def list_comments(call: Call) -> Reply:
    comments = call.world.issue_comments(call.int_param("issue_number"))
    since = call.query.get("since")
    if since:
        comments = [c for c in comments if str(c.get("updated_at", "")) >= since]
    return paginate(call, comments)


async def create_comment(call: Call) -> Reply:
    number = call.int_param("issue_number")
    body = call.body if isinstance(call.body, dict) else {}
    comment = call.world.create_comment(number, body.get("body"), call.world.bot(), call.rt.now())
    if call.rt.config.emit_events:
        emit(
            call.rt,
            "issue_comment",
            {"action": "created", "issue": call.world.issue(number), "comment": comment},
        )
    return json_response(comment, status=201)


async def get_comment(call: Call) -> Reply:
    return call.world.comment(call.int_param("comment_id"))


async def edit_comment(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    return call.world.edit_comment(call.int_param("comment_id"), body.get("body"), call.rt.now())


async def delete_comment(call: Call) -> Reply:
    call.world.delete_comment(call.int_param("comment_id"))
    return web.Response(status=204)


async def timeline(call: Call) -> Reply:
    return paginate(call, call.world.timeline(call.int_param("issue_number")))


async def list_labels(call: Call) -> Reply:
    return paginate(call, call.world.issue_labels(call.int_param("issue_number")))


async def add_labels(call: Call) -> Reply:
    names = World.label_names(call.body)
    return call.world.add_labels(
        call.int_param("issue_number"), names, call.world.bot(), call.rt.now()
    )


async def set_labels(call: Call) -> Reply:
    names = World.label_names(call.body) if call.body not in (None, [], {"labels": []}) else []
    return call.world.set_labels(
        call.int_param("issue_number"), names, call.world.bot(), call.rt.now()
    )


async def remove_label(call: Call) -> Reply:
    return call.world.remove_label(
        call.int_param("issue_number"), call.params["name"], call.world.bot(), call.rt.now()
    )


async def remove_all_labels(call: Call) -> Reply:
    call.world.set_labels(call.int_param("issue_number"), [], call.world.bot(), call.rt.now())
    return web.Response(status=204)


def _reaction_call(kind: str, param: str) -> tuple[Handler, Handler]:
    async def list_(call: Call) -> Reply:
        content = call.query.get("content")
        return paginate(call, call.world.reactions_of(kind, call.int_param(param), content))

    async def create(call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        reaction, created = call.world.react(
            kind, call.int_param(param), body.get("content"), call.world.bot(), call.rt.now()
        )
        # 200 means the reaction was already there (docs: reactions)
        return json_response(reaction, status=201 if created else 200)

    return list_, create


list_comment_reactions, create_comment_reaction = _reaction_call("comment", "comment_id")
list_issue_reactions, create_issue_reaction = _reaction_call("issue", "issue_number")


async def list_pulls(call: Call) -> Reply:
    pulls = call.world.list_pulls(
        call.query.get("state", "open"), call.query.get("head"), call.query.get("base")
    )
    if call.query.get("direction") == "asc":
        pulls = list(reversed(pulls))
    return paginate(call, pulls)


async def create_pull(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    pull = call.world.create_pull(body, call.world.bot(), call.rt.now())
    if call.rt.config.emit_events:
        emit(
            call.rt,
            "pull_request",
            {"action": "opened", "number": pull["number"], "pull_request": pull},
        )
    return json_response(pull, status=201)


async def get_pull(call: Call) -> Reply:
    return call.world.pull(call.int_param("pull_number"))


async def update_pull(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    return call.world.update_pull(call.int_param("pull_number"), body, call.rt.now())


def _pr_list(part: str) -> Handler:
    async def handle(call: Call) -> Reply:
        return paginate(call, call.world.pr_part(call.int_param("pull_number"), part))

    return handle


async def create_check_run(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    return json_response(call.world.create_check_run(body, call.rt.now()), status=201)


async def get_check_run(call: Call) -> Reply:
    return call.world.check_run(call.int_param("check_run_id"))


async def update_check_run(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    return call.world.update_check_run(call.int_param("check_run_id"), body, call.rt.now())


async def check_run_annotations(call: Call) -> Reply:
    return paginate(call, call.world.check_annotations(call.int_param("check_run_id")))


async def check_runs_for_ref(call: Call) -> Reply:
    app_id = call.query.get("app_id")
    runs = call.world.check_runs_for(
        call.params["ref"],
        name=call.query.get("check_name"),
        status=call.query.get("status"),
        latest=call.query.get("filter", "latest") != "all",
        app_id=int(app_id) if app_id and app_id.isdigit() else None,
    )
    return paginate(call, runs, wrap="check_runs")


async def list_runs(call: Call) -> Reply:
    keys = ("head_sha", "branch", "event", "status", "actor")
    filters = {k: call.query[k] for k in keys if k in call.query}
    return paginate(call, call.world.list_runs(filters), wrap="workflow_runs")


async def get_run(call: Call) -> Reply:
    return call.world.run(call.int_param("run_id"))


async def get_run_attempt(call: Call) -> Reply:
    return call.world.run(call.int_param("run_id"), call.int_param("attempt_number"))


async def run_jobs(call: Call) -> Reply:
    latest = call.query.get("filter", "latest") != "all"
    return paginate(call, call.world.run_jobs(call.int_param("run_id"), latest=latest), wrap="jobs")


async def attempt_jobs(call: Call) -> Reply:
    jobs = call.world.run_jobs(
        call.int_param("run_id"), latest=True, attempt=call.int_param("attempt_number")
    )
    return paginate(call, jobs, wrap="jobs")


async def get_job(call: Call) -> Reply:
    return call.world.job(call.int_param("job_id"))


def _redirect(call: Call, blob: Blob) -> web.Response:
    key = secrets.token_urlsafe(24)
    call.rt.blobs[key] = blob
    expires = iso(blob.expires_at)
    location = call.absolute(f"/_blobs/{key}") + f"?se={expires}&sig={secrets.token_hex(16)}"
    return web.Response(status=302, headers={"Location": location})


async def job_logs(call: Call) -> Reply:
    log = call.world.job_log(call.int_param("job_id"))
    blob = Blob(log.encode("utf-8"), "text/plain; charset=utf-8", call.rt.now() + BLOB_TTL)
    return _redirect(call, blob)


async def run_artifacts(call: Call) -> Reply:
    artifacts = call.world.run_artifacts(call.int_param("run_id"), call.query.get("name"))
    return paginate(call, artifacts, wrap="artifacts")


async def list_artifacts(call: Call) -> Reply:
    name = call.query.get("name")
    artifacts = sorted(
        (a for a in call.world.artifacts.values() if name is None or a.get("name") == name),
        key=lambda a: int(a["id"]),
        reverse=True,
    )
    return paginate(call, artifacts, wrap="artifacts")


async def get_artifact(call: Call) -> Reply:
    return call.world.artifact(call.int_param("artifact_id"))


async def download_artifact(call: Call) -> Reply:
    if call.params["archive_format"] != "zip":
        raise not_found()
    artifact_id = call.int_param("artifact_id")
    data = call.world.artifact_zip(artifact_id)
    name = str(call.world.artifact(artifact_id).get("name") or artifact_id)
    return _redirect(call, Blob(data, "application/zip", call.rt.now() + BLOB_TTL, f"{name}.zip"))


RAW_TYPES = ("application/vnd.github.raw", "application/vnd.github.v3.raw")


async def get_contents(call: Call) -> Reply:
    item, data = call.world.contents(call.params.get("path", ""), call.query.get("ref"))
    accept = call.request.headers.get("Accept", "")
    media = next((m for m in RAW_TYPES if m in accept), None)
    if media is not None and data is not None:
        response = web.Response(body=data, headers={"Content-Type": f"{media}; charset=utf-8"})
        response.headers["X-GitHub-Media-Type"] = "github.v3; param=raw"
        return response
    return item


async def get_ref(call: Call) -> Reply:
    return call.world.ref_object(call.params["ref"].removeprefix("refs/"))


async def create_ref(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    return json_response(call.world.create_ref(body), status=201)


async def update_ref(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    ref, before = call.world.update_ref(call.params["ref"], body)
    branch = call.params["ref"].removeprefix("refs/").removeprefix("heads/")
    if call.rt.config.emit_events and before != ref["object"]["sha"]:
        for number in call.world.pulls_on_branch(branch):
            pull = call.world.pull(number)
            emit(
                call.rt,
                "pull_request",
                {
                    "action": "synchronize",
                    "number": number,
                    "before": before,
                    "after": ref["object"]["sha"],
                    "pull_request": pull,
                },
            )
    return ref


async def delete_ref(call: Call) -> Reply:
    call.world.delete_ref(call.params["ref"])
    return web.Response(status=204)


async def create_blob(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    return json_response(call.world.create_blob(body), status=201)


async def get_blob(call: Call) -> Reply:
    return call.world.blob(call.params["file_sha"])


async def create_tree(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    return json_response(call.world.create_tree(body), status=201)


async def get_tree(call: Call) -> Reply:
    recursive = call.query.get("recursive", "") not in ("", "0", "false")
    return call.world.tree_object(call.params["tree_sha"], recursive=recursive)


async def create_commit(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    return json_response(call.world.create_commit(body, call.rt.now()), status=201)


async def get_git_commit(call: Call) -> Reply:
    return call.world.git_commit(call.params["commit_sha"])


async def get_commit(call: Call) -> Reply:
    return call.world.rest_commit(call.params["ref"])


async def get_branch(call: Call) -> Reply:
    return call.world.branch(call.params["branch"])


# --- the route table (paths and names as in GitHub's OpenAPI) -------------------------------------
R = "/repos/{owner}/{repo}"
ISSUES_R, ISSUES_W = (
    (("issues", "read"), ("pull_requests", "read")),
    (("issues", "write"), ("pull_requests", "write")),
)
PULLS_R, PULLS_W = (("pull_requests", "read"),), (("pull_requests", "write"),)
CHECKS_R, CHECKS_W = (("checks", "read"),), (("checks", "write"),)
CONTENTS_R, CONTENTS_W = (("contents", "read"),), (("contents", "write"),)
ACTIONS_R = (("actions", "read"),)
META = (("metadata", "read"),)

REST_ROUTES: tuple[Route, ...] = (
    Route("GET", "/app", get_app, "jwt"),
    Route("GET", "/app/installations", list_installations, "jwt"),
    Route("GET", "/app/installations/{installation_id}", get_installation, "jwt"),
    Route("POST", "/app/installations/{installation_id}/access_tokens", create_access_token, "jwt"),
    Route("GET", "/app/hook/deliveries", list_deliveries, "jwt"),
    Route("GET", "/app/hook/deliveries/{delivery_id}", get_delivery, "jwt"),
    Route("POST", "/app/hook/deliveries/{delivery_id}/attempts", redeliver, "jwt"),
    Route("POST", "/app-manifests/{code}/conversions", convert_manifest, "none"),
    Route("GET", "/installation/repositories", installation_repositories),
    Route("DELETE", "/installation/token", revoke_token),
    Route("GET", "/rate_limit", rate_limit, counts=False),
    Route("GET", f"{R}/installation", get_repo_installation, "jwt"),
    Route("GET", R, get_repo, needs=META),
    Route("GET", f"{R}/collaborators/{{username}}/permission", collaborator_permission, needs=META),
    Route("GET", f"{R}/issues", list_issues, needs=ISSUES_R),
    Route("GET", f"{R}/issues/{{issue_number}}", get_issue, needs=ISSUES_R),
    Route("GET", f"{R}/issues/{{issue_number}}/comments", list_comments, needs=ISSUES_R),
    Route("POST", f"{R}/issues/{{issue_number}}/comments", create_comment, needs=ISSUES_W),
    Route("GET", f"{R}/issues/comments/{{comment_id}}", get_comment, needs=ISSUES_R),
    Route("PATCH", f"{R}/issues/comments/{{comment_id}}", edit_comment, needs=ISSUES_W),
    Route("DELETE", f"{R}/issues/comments/{{comment_id}}", delete_comment, needs=ISSUES_W),
    Route(
        "GET",
        f"{R}/issues/comments/{{comment_id}}/reactions",
        list_comment_reactions,
        needs=ISSUES_R,
    ),
    Route(
        "POST",
        f"{R}/issues/comments/{{comment_id}}/reactions",
        create_comment_reaction,
        needs=ISSUES_W,
    ),
    Route("GET", f"{R}/issues/{{issue_number}}/reactions", list_issue_reactions, needs=ISSUES_R),
    Route("POST", f"{R}/issues/{{issue_number}}/reactions", create_issue_reaction, needs=ISSUES_W),
    Route("GET", f"{R}/issues/{{issue_number}}/timeline", timeline, needs=ISSUES_R),
    Route("GET", f"{R}/issues/{{issue_number}}/labels", list_labels, needs=ISSUES_R),
    Route("POST", f"{R}/issues/{{issue_number}}/labels", add_labels, needs=ISSUES_W),
    Route("PUT", f"{R}/issues/{{issue_number}}/labels", set_labels, needs=ISSUES_W),
    Route("DELETE", f"{R}/issues/{{issue_number}}/labels", remove_all_labels, needs=ISSUES_W),
    Route("DELETE", f"{R}/issues/{{issue_number}}/labels/{{name}}", remove_label, needs=ISSUES_W),
    Route("GET", f"{R}/pulls", list_pulls, needs=PULLS_R),
    Route("POST", f"{R}/pulls", create_pull, needs=PULLS_W),
    Route("GET", f"{R}/pulls/{{pull_number}}", get_pull, needs=PULLS_R),
    Route("PATCH", f"{R}/pulls/{{pull_number}}", update_pull, needs=PULLS_W),
    Route("GET", f"{R}/pulls/{{pull_number}}/reviews", _pr_list("reviews"), needs=PULLS_R),
    Route("GET", f"{R}/pulls/{{pull_number}}/comments", _pr_list("review_comments"), needs=PULLS_R),
    Route("GET", f"{R}/pulls/{{pull_number}}/files", _pr_list("pr_files"), needs=PULLS_R),
    Route("GET", f"{R}/pulls/{{pull_number}}/commits", _pr_list("pr_commits"), needs=PULLS_R),
    Route("POST", f"{R}/check-runs", create_check_run, needs=CHECKS_W),
    Route("GET", f"{R}/check-runs/{{check_run_id}}", get_check_run, needs=CHECKS_R),
    Route("PATCH", f"{R}/check-runs/{{check_run_id}}", update_check_run, needs=CHECKS_W),
    Route(
        "GET", f"{R}/check-runs/{{check_run_id}}/annotations", check_run_annotations, needs=CHECKS_R
    ),
    Route("GET", f"{R}/commits/{{ref}}/check-runs", check_runs_for_ref, needs=CHECKS_R),
    Route("GET", f"{R}/actions/runs", list_runs, needs=ACTIONS_R),
    Route("GET", f"{R}/actions/runs/{{run_id}}", get_run, needs=ACTIONS_R),
    Route(
        "GET",
        f"{R}/actions/runs/{{run_id}}/attempts/{{attempt_number}}",
        get_run_attempt,
        needs=ACTIONS_R,
    ),
    Route(
        "GET",
        f"{R}/actions/runs/{{run_id}}/attempts/{{attempt_number}}/jobs",
        attempt_jobs,
        needs=ACTIONS_R,
    ),
    Route("GET", f"{R}/actions/runs/{{run_id}}/jobs", run_jobs, needs=ACTIONS_R),
    Route("GET", f"{R}/actions/jobs/{{job_id}}", get_job, needs=ACTIONS_R),
    Route("GET", f"{R}/actions/jobs/{{job_id}}/logs", job_logs, needs=ACTIONS_R),
    Route("GET", f"{R}/actions/runs/{{run_id}}/artifacts", run_artifacts, needs=ACTIONS_R),
    Route("GET", f"{R}/actions/artifacts", list_artifacts, needs=ACTIONS_R),
    Route("GET", f"{R}/actions/artifacts/{{artifact_id}}", get_artifact, needs=ACTIONS_R),
    Route(
        "GET",
        f"{R}/actions/artifacts/{{artifact_id}}/{{archive_format}}",
        download_artifact,
        needs=ACTIONS_R,
    ),
    Route("GET", f"{R}/contents/{{path}}", get_contents, needs=CONTENTS_R),
    Route("GET", f"{R}/git/ref/{{ref}}", get_ref, needs=CONTENTS_R),
    Route("POST", f"{R}/git/refs", create_ref, needs=CONTENTS_W),
    Route("PATCH", f"{R}/git/refs/{{ref}}", update_ref, needs=CONTENTS_W),
    Route("DELETE", f"{R}/git/refs/{{ref}}", delete_ref, needs=CONTENTS_W),
    Route("POST", f"{R}/git/blobs", create_blob, needs=CONTENTS_W),
    Route("GET", f"{R}/git/blobs/{{file_sha}}", get_blob, needs=CONTENTS_R),
    Route("POST", f"{R}/git/trees", create_tree, needs=CONTENTS_W),
    Route("GET", f"{R}/git/trees/{{tree_sha}}", get_tree, needs=CONTENTS_R),
    Route("POST", f"{R}/git/commits", create_commit, needs=CONTENTS_W),
    Route("GET", f"{R}/git/commits/{{commit_sha}}", get_git_commit, needs=CONTENTS_R),
    Route("GET", f"{R}/commits/{{ref}}", get_commit, needs=CONTENTS_R),
    Route("GET", f"{R}/branches/{{branch}}", get_branch, needs=CONTENTS_R),
)
