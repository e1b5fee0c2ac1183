"""Check-run bodies judged as GitHub judges them: field limits, enums and the 50-annotation cap."""

from __future__ import annotations

from typing import Any

from app.fake_github.errors import ApiError

Json = dict[str, Any]

STATUSES = {"queued", "in_progress", "completed"}
ACTIONS_ONLY_STATUSES = {"requested", "waiting", "pending"}
CONCLUSIONS = {
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
}
ANNOTATION_LEVELS = {"notice", "warning", "failure"}

# https://docs.github.com/en/rest/checks/runs#create-a-check-run (limits from the OpenAPI schema)
MAX_ANNOTATIONS = 50
MAX_ACTIONS = 3
MAX_OUTPUT_TEXT = 65535
MAX_ACTION_FIELD = {"label": 20, "description": 40, "identifier": 20}
MAX_ANNOTATION_TITLE = 255
MAX_ANNOTATION_TEXT = 64 * 1024


def _invalid(detail: str) -> ApiError:
    # GitHub's schema validator answers in this shape: "Invalid request.\n\n<detail>"
    return ApiError(422, f"Invalid request.\n\n{detail}")


def _too_long(value: str, limit: int) -> ApiError:
    return _invalid(f"Only {limit} characters are allowed; {len(value)} were supplied.")


def _missing(names: list[str]) -> ApiError:
    quoted = ", ".join(f'"{n}"' for n in names)
    return _invalid(f"{quoted} {'wasn' if len(names) == 1 else 'weren'}'t supplied.")


def _check_string(body: Json, key: str, limit: int | None = None) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, str):
        raise _invalid(f"For 'properties/{key}', {value!r} is not a string.")
    if limit is not None and len(value) > limit:
        raise _too_long(value, limit)


def check_annotations(annotations: Any) -> list[Json]:
    if annotations is None:
        return []
    if not isinstance(annotations, list):
        raise _invalid("For 'properties/annotations', value is not an array.")
    if len(annotations) > MAX_ANNOTATIONS:
        raise _invalid(
            f"No more than {MAX_ANNOTATIONS} items are allowed; {len(annotations)} were supplied."
        )
    for annotation in annotations:
        if not isinstance(annotation, dict):
            raise _invalid("For 'items', value is not an object.")
        missing = [
            k
            for k in ("path", "start_line", "end_line", "annotation_level", "message")
            if annotation.get(k) is None
        ]
        if missing:
            raise _missing(missing)
        if annotation["annotation_level"] not in ANNOTATION_LEVELS:
            raise _invalid(
                f"For 'properties/annotation_level', {annotation['annotation_level']!r} is not one "
                "of ['notice', 'warning', 'failure']."
            )
        for key in ("start_line", "end_line"):
            if not isinstance(annotation[key], int):
                raise _invalid(f"For 'properties/{key}', {annotation[key]!r} is not an integer.")
        _check_string(annotation, "title", MAX_ANNOTATION_TITLE)
        _check_string(annotation, "message", MAX_ANNOTATION_TEXT)
        _check_string(annotation, "raw_details", MAX_ANNOTATION_TEXT)
        same_line = annotation["start_line"] == annotation["end_line"]
        if not same_line and ("start_column" in annotation or "end_column" in annotation):
            raise _invalid("start_column and end_column may only be used on a single line.")
    return [dict(a) for a in annotations]


def check_actions(actions: Any) -> list[Json] | None:
    if actions is None:
        return None
    if not isinstance(actions, list):
        raise _invalid("For 'properties/actions', value is not an array.")
    if len(actions) > MAX_ACTIONS:
        raise _invalid(
            f"No more than {MAX_ACTIONS} items are allowed; {len(actions)} were supplied."
        )
    for action in actions:
        if not isinstance(action, dict):
            raise _invalid("For 'items', value is not an object.")
        missing = [k for k in MAX_ACTION_FIELD if action.get(k) is None]
        if missing:
            raise _missing(missing)
        for key, limit in MAX_ACTION_FIELD.items():
            _check_string(action, key, limit)
    return [dict(a) for a in actions]


def check_output(output: Any) -> Json | None:
    if output is None:
        return None
    if not isinstance(output, dict):
        raise _invalid("For 'properties/output', value is not an object.")
    missing = [k for k in ("title", "summary") if output.get(k) is None]
    if missing:
        raise _missing(missing)
    _check_string(output, "title")
    _check_string(output, "summary", MAX_OUTPUT_TEXT)
    _check_string(output, "text", MAX_OUTPUT_TEXT)
    return output


def check_run_body(body: Json, *, creating: bool) -> Json:
    """Validate a create/update body; returns the fields to apply (annotations split out)."""
    if creating:
        missing = [k for k in ("name", "head_sha") if not body.get(k)]
        if missing:
            raise _missing(missing)
    _check_string(body, "name")
    _check_string(body, "details_url")
    _check_string(body, "external_id")
    status = body.get("status")
    conclusion = body.get("conclusion")
    if status is not None and status not in STATUSES:
        if status in ACTIONS_ONLY_STATUSES:
            raise _invalid(f"Status {status!r} can only be set by GitHub Actions.")
        raise _invalid(f"For 'properties/status', {status!r} is not one of {sorted(STATUSES)}.")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        if conclusion == "stale":
            raise _invalid("Conclusion 'stale' can only be set by GitHub.")
        raise _invalid(
            f"For 'properties/conclusion', {conclusion!r} is not one of {sorted(CONCLUSIONS)}."
        )
    if (status == "completed" or body.get("completed_at")) and conclusion is None:
        raise _missing(["conclusion"])
    output = check_output(body.get("output"))
    annotations = check_annotations(output.get("annotations") if output else None)
    actions = check_actions(body.get("actions"))
    fields: Json = {
        k: body[k]
        for k in ("name", "details_url", "external_id", "started_at", "completed_at")
        if k in body
    }
    if status is not None:
        fields["status"] = status
    if conclusion is not None:
        # sending a conclusion completes the run (docs: "automatically sets status to completed")
        fields["status"] = "completed"
        fields["conclusion"] = conclusion
    if output is not None:
        fields["output"] = {k: output.get(k) for k in ("title", "summary", "text") if k in output}
        if "images" in output:
            fields["output"]["images"] = output["images"]
    if actions is not None:
        fields["actions"] = actions
    fields["annotations"] = annotations
    return fields
