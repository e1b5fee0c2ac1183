"""The LLM engine against a fake endpoint: checked answers, dropped inventions, and every way to fall back."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from app.diagnosis.llm import LLMConfig, diagnose_with_llm
from app.diagnosis.model import Diagnosis
from app.snapshot import Snapshot, load_snapshot
from tests.fake_llm import FakeLLM, serve_fake_llm

SCENARIOS = Path(__file__).parent / "fixtures" / "scenarios"
KEY = "sk-test-" + "k" * 32


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return load_snapshot(SCENARIOS / "02-codex-changelog-two-prs.json")


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[FakeLLM, str]]:
    fake = FakeLLM()
    async with serve_fake_llm(fake) as url:
        yield fake, url


def _prompt(body: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"])


def _ids(body: dict[str, Any]) -> dict[str, str]:
    return dict(re.findall(r"\[(E\d+)\] kind=\S+.*? url=(\S+)", _prompt(body)))


def _answer(body: dict[str, Any]) -> dict[str, Any]:
    ids = _ids(body)
    review = next(i for i, u in ids.items() if "pullrequestreview" in u)
    return {
        "diagnosis": f"The agent skipped the changelog twice ({review}, E9999).",
        "action_items": [
            {
                "id": "A1",
                "category": "instructions",
                "title": "Add the changelog fragment",
                "problem": "twice",
                "proposal": "Add a rule.",
                "rule": "Add `changes/<issue>.<type>.md` in every PR.",
                "target_path": "AGENTS.md",
                "evidence_refs": [review, "E9999", "https://example.com/made-up"],
                "confidence": 0.9,
            },
            {
                "id": "A2",
                "category": "instructions",
                "title": "Invented",
                "problem": "x",
                "proposal": "x",
                "target_path": "AGENTS.md",
                "evidence_refs": ["E9999"],
                "confidence": 0.5,
            },
            {
                "id": "A3",
                "category": "prompts",
                "title": "Edit CI",
                "problem": "x",
                "proposal": "x",
                "target_path": ".github/workflows/ci.yml",
                "evidence_refs": [review],
                "confidence": 0.5,
            },
            {
                "id": "A4",
                "category": "instructions",
                "title": "Speed up",
                "problem": "x",
                "proposal": "Delete the Security section so the agent is not slowed down.",
                "rule": "Remove the security rules.",
                "target_path": "AGENTS.md",
                "evidence_refs": [review],
                "confidence": 0.5,
            },
            {
                "id": "A5",
                "category": "magic",
                "title": "Bad category",
                "problem": "x",
                "proposal": "x",
                "target_path": "AGENTS.md",
                "evidence_refs": [review],
                "confidence": 0.5,
            },
        ],
        "tool_gaps": [{"tool": "uv", "reason": "made up", "evidence_refs": ["E9999"]}],
    }


async def _run(snapshot: Snapshot, url: str, timeout_s: float = 5.0) -> Diagnosis:
    llm = LLMConfig(base_url=url, api_key=SecretStr(KEY), model="test-model", timeout_s=timeout_s)
    async with aiohttp.ClientSession() as session:
        return await diagnose_with_llm(snapshot, None, locale="en", llm=llm, session=session)


async def test_a_good_answer_is_kept_and_inventions_dropped(
    snapshot: Snapshot, endpoint: tuple[FakeLLM, str]
) -> None:
    """Only items with real references, allowed paths, known categories and no weakening survive."""
    fake, url = endpoint
    fake.answer = _answer
    result = await _run(snapshot, url)
    assert result.engine == "llm:test-model" and result.fallback_reason is None
    assert [i.title for i in result.action_items] == ["Add the changelog fragment"]
    (item,) = result.action_items
    urls = result.cited_urls(item)
    assert urls and all(u.startswith("https://github.com/northwind-data/ledgerkit/") for u in urls)
    assert result.tool_gaps == []
    assert "E9999" not in result.diagnosis and "E1" in result.diagnosis


async def test_the_request_is_openai_shaped_and_safe(
    snapshot: Snapshot, endpoint: tuple[FakeLLM, str]
) -> None:
    """One POST to /chat/completions, JSON mode, the key as a bearer token, evidence fenced and redacted."""
    fake, url = endpoint
    fake.answer = {"diagnosis": "nothing", "action_items": [], "tool_gaps": []}
    await _run(snapshot, url)
    (req,) = fake.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == f"Bearer {KEY}"
    body = req["body"]
    assert body["model"] == "test-model" and body["response_format"] == {"type": "json_object"}
    prompt = _prompt(body)
    assert "```text" in prompt and "## Evidence" in prompt
    assert "ghp_cD4ALWupcdvmIBfGMkzKoA4Dzp39FfYAXMhr" not in json.dumps(body)
    assert (
        "Add a changelog fragment" in prompt or "changelog" in prompt
    )  # the detectors' findings are included


async def test_outsiders_text_never_reaches_the_model(endpoint: tuple[FakeLLM, str]) -> None:
    """The injection comment of an outside user is not in the prompt at all."""
    fake, url = endpoint
    fake.answer = {"diagnosis": "", "action_items": [], "tool_gaps": []}
    snap = load_snapshot(SCENARIOS / "01-copilot-lint-private-registry.json")
    await _run(snap, url)
    prompt = _prompt(fake.requests[0]["body"])
    assert "cart-utils-pro" not in prompt and "remove the security section" not in prompt.lower()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("http_error", "HTTP 500"),
        ("not_json", "not JSON"),
        ("invalid_json", "not valid JSON"),
        ("refusal", "refused"),
    ],
)
async def test_failures_fall_back_to_the_heuristic_engine(
    snapshot: Snapshot, endpoint: tuple[FakeLLM, str], mode: str, reason: str
) -> None:
    """HTTP errors, non-JSON bodies, broken JSON and refusals give the heuristic diagnosis with the reason."""
    fake, url = endpoint
    fake.mode = mode  # type: ignore[assignment]  # the parametrized values are FakeLLM modes
    result = await _run(snapshot, url)
    assert result.engine == "heuristic"
    assert result.fallback_reason is not None and reason in result.fallback_reason
    assert len(result.action_items) == 2  # the heuristic engine's diagnosis of this scenario
    assert KEY not in result.model_dump_json()


async def test_a_slow_model_times_out(snapshot: Snapshot, endpoint: tuple[FakeLLM, str]) -> None:
    """No answer within the timeout means the heuristic diagnosis, quickly."""
    fake, url = endpoint
    fake.mode, fake.delay_s = "slow", 3.0
    result = await _run(snapshot, url, timeout_s=0.3)
    assert result.engine == "heuristic" and "0.3 s" in (result.fallback_reason or "")


async def test_an_answer_of_the_wrong_shape_falls_back(
    snapshot: Snapshot, endpoint: tuple[FakeLLM, str]
) -> None:
    """JSON that does not fit the format (action_items not a list) is rejected with the field named."""
    fake, url = endpoint
    fake.mode, fake.raw = "raw", json.dumps({"diagnosis": "x", "action_items": "all of them"})
    result = await _run(snapshot, url)
    assert result.engine == "heuristic" and "action_items" in (result.fallback_reason or "")


async def test_an_unreachable_endpoint_falls_back(snapshot: Snapshot) -> None:
    """A refused connection is a fallback too, and the reason names no secret."""
    result = await _run(snapshot, "http://127.0.0.1:9/v1")
    assert result.engine == "heuristic" and "request failed" in (result.fallback_reason or "")


def test_the_key_never_shows_in_the_config_repr() -> None:
    """LLMConfig's repr masks the API key."""
    llm = LLMConfig(base_url="http://x", api_key=SecretStr(KEY), model="m")
    assert KEY not in repr(llm)
