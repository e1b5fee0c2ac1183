"""The role catalog and the label → role table: which agent role a `run:*` label hands work to."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PM = "pm"
    SA = "sa"
    EM = "em"
    DEV = "dev"
    REVIEWER = "reviewer"
    QA = "qa"
    SRE = "sre"
    KM = "km"  # knowledge manager: learns from past runs and maintains the agents' instructions


ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.PM: "product manager: intake, vision, requirements",
    Role.SA: "solution architect: architecture and design",
    Role.EM: "engineering manager: planning",
    Role.DEV: "developer: implementation and review fixes",
    Role.REVIEWER: "reviewer: code review",
    Role.QA: "quality assurance: testing",
    Role.SRE: "site reliability: release, post-deploy and operations",
    Role.KM: "knowledge manager: diagnoses recurring agent problems, improves instructions",
}

# Stage labels as the agent orchestrators in this space spell them; `run:self-improve` is ours.
LABEL_ROLES: dict[str, Role] = {
    "run:intake": Role.PM,
    "run:vision": Role.PM,
    "run:prd": Role.PM,
    "run:rethink": Role.PM,
    "run:arch": Role.SA,
    "run:design": Role.SA,
    "run:plan": Role.EM,
    "run:dev": Role.DEV,
    "run:review-fix": Role.DEV,
    "run:review": Role.REVIEWER,
    "run:qa": Role.QA,
    "run:release": Role.SRE,
    "run:postdeploy": Role.SRE,
    "run:ops": Role.SRE,
    "run:doc-audit": Role.KM,
    "run:self-improve": Role.KM,
}


def role_for_label(label: str, *, trigger_label: str = "run:self-improve") -> Role | None:
    """The role a label starts; a repository's own trigger label always means the knowledge manager."""
    if label == trigger_label:
        return Role.KM
    return LABEL_ROLES.get(label)
