"""Diagnosis: from an evidence snapshot to the agent's recurring problems and proposed fixes.

`diagnose` is the heuristic engine (pure, deterministic); `app.diagnosis.llm.diagnose_with_llm`
asks a model and falls back to it; `render_markdown` writes the result for people.
"""

from app.diagnosis.heuristic import diagnose
from app.diagnosis.model import ActionItem, Diagnosis, EvidenceRef, ToolGap
from app.diagnosis.render import render_markdown

__all__ = ["ActionItem", "Diagnosis", "EvidenceRef", "ToolGap", "diagnose", "render_markdown"]
