"""Guardrails: block improvement PRs whose diff weakens a policy or security rule of the agent's instructions."""

from app.guardrails.check import check_diff
from app.guardrails.diff import DiffError
from app.guardrails.report import GuardrailReport, Violation

__all__ = ["DiffError", "GuardrailReport", "Violation", "check_diff"]
