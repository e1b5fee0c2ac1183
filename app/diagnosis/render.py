"""A diagnosis as Markdown for people (check run text, sticky comment), with English and Russian labels."""

from __future__ import annotations

from app.diagnosis.model import Diagnosis

_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "heading": "Self-improve diagnosis",
        "engine": "Engine",
        "fallback": "fell back to the heuristic engine",
        "items": "Action items",
        "id": "ID",
        "category": "Category",
        "title": "What",
        "target": "File",
        "evidence": "Evidence",
        "confidence": "Confidence",
        "proposal": "Proposed rule",
        "gaps": "Tool gaps",
        "tool": "Tool",
        "reason": "Why",
        "none": "No action items.",
        "docs": "docs",
        "prompts": "prompts",
        "instructions": "instructions",
        "tooling": "tooling",
    },
    "ru": {
        "heading": "Диагностика self-improve",
        "engine": "Движок",
        "fallback": "использован эвристический движок",
        "items": "Что предлагается",
        "id": "ID",
        "category": "Категория",
        "title": "Что",
        "target": "Файл",
        "evidence": "Доказательства",
        "confidence": "Уверенность",
        "proposal": "Предлагаемое правило",
        "gaps": "Чего не хватает агенту",
        "tool": "Инструмент",
        "reason": "Почему",
        "none": "Предложений нет.",
        "docs": "документация",
        "prompts": "промпты",
        "instructions": "инструкции",
        "tooling": "инструменты",
    },
}


def _cell(text: str) -> str:
    """Table cells hold one line and no pipes."""
    return " ".join(text.replace("|", "\\|").split())


def render_markdown(diagnosis: Diagnosis, locale: str) -> str:
    lb = _LABELS.get(locale, _LABELS["en"])
    urls = {e.id: e.url for e in diagnosis.evidence_refs}

    def links(ids: list[str]) -> str:
        return ", ".join(f"[{i}]({urls[i]})" for i in ids if i in urls)

    engine = diagnosis.engine
    if diagnosis.fallback_reason:
        engine += f" ({lb['fallback']}: {_cell(diagnosis.fallback_reason)})"
    out = [f"### {lb['heading']}", "", diagnosis.diagnosis.strip(), ""]
    if diagnosis.action_items:
        out += [
            f"#### {lb['items']}",
            "",
            f"| {lb['id']} | {lb['category']} | {lb['title']} | {lb['target']} | {lb['evidence']} | {lb['confidence']} |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for item in diagnosis.action_items:
            out.append(
                f"| {item.id} | {lb.get(item.category, item.category)} | {_cell(item.title)} | "
                f"`{_cell(item.target_path)}` | {links(item.evidence_refs)} | {item.confidence:.2f} |"
            )
        out.append("")
        for item in diagnosis.action_items:
            out.append(
                f"- **{item.id}** {lb['proposal']} (`{item.target_path}`): {_cell(item.rule)}"
            )
        out.append("")
    else:
        out += [lb["none"], ""]
    if diagnosis.tool_gaps:
        out += [
            f"#### {lb['gaps']}",
            "",
            f"| {lb['tool']} | {lb['reason']} | {lb['evidence']} |",
            "| --- | --- | --- |",
        ]
        for gap in diagnosis.tool_gaps:
            out.append(
                f"| `{_cell(gap.tool)}` | {_cell(gap.reason)} | {links(gap.evidence_refs)} |"
            )
        out.append("")
    out.append(f"<sub>{lb['engine']}: {_cell(engine)}</sub>")
    return "\n".join(out) + "\n"
