"""Link headers and the page plan: fan out only where GitHub's own Link vouches for page numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.github.pagination import FanOut, parse_link, plan_fan_out

FIXTURES = Path(__file__).parent / "fixtures" / "github"
API = "https://api.github.com/repositories/1000/issues"


def test_parse_link_reads_every_rel_of_a_recorded_header() -> None:
    """The recorded middle page of a five-page list yields prev, next, last and first."""
    exchanges = json.loads((FIXTURES / "paginate-issues.json").read_text())
    links = parse_link(exchanges[1]["headers"]["link"])
    assert links == {
        "prev": f"{API}?per_page=3&page=1",
        "next": f"{API}?per_page=3&page=3",
        "last": f"{API}?per_page=3&page=5",
        "first": f"{API}?per_page=3&page=1",
    }


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, {}),
        ("", {}),
        ('<https://x/a?cursor=b>; rel="next"', {"next": "https://x/a?cursor=b"}),
        ("<https://x/a?page=2>; rel=next", {"next": "https://x/a?page=2"}),
        (
            '<https://x/a?page=9>; rel="next last"',
            {"next": "https://x/a?page=9", "last": "https://x/a?page=9"},
        ),
        ('<https://x/a?q=a,b&page=2>; type="x"; rel="next"', {"next": "https://x/a?q=a,b&page=2"}),
    ],
)
def test_parse_link_variants(header: str | None, expected: dict[str, str]) -> None:
    """Absent headers, unquoted rels, several rels, extra params and commas inside URLs all parse."""
    assert parse_link(header) == expected


def test_recorded_first_page_plans_pages_two_to_five() -> None:
    """Page 1 of the recorded list fans out to pages 2..5, each exactly `next` with another number."""
    exchanges = json.loads((FIXTURES / "paginate-issues.json").read_text())
    links = parse_link(exchanges[0]["headers"]["link"])
    plan = plan_fan_out(links.get("next"), links.get("last"), max_pages=50)
    assert plan == FanOut(
        urls=tuple(f"{API}?per_page=3&page={n}" for n in range(2, 6)), truncated=False
    )
    # The planned URLs are the ones GitHub itself linked to when followed one by one.
    followed = [f"https://api.github.com{e['path']}" for e in exchanges[1:]]
    assert list(plan.urls) == followed


@pytest.mark.parametrize(
    ("next_url", "last_url", "max_pages", "expected"),
    [
        # Capped: pages 2..3 only, truncated.
        (f"{API}?page=2", f"{API}?page=7", 3, FanOut((f"{API}?page=2", f"{API}?page=3"), True)),
        # A cap of one page: nothing to fetch, truncated.
        (f"{API}?page=2", f"{API}?page=2", 1, FanOut((), True)),
        # No last (cursor lists, or the last page): follow next.
        (f"{API}?page=2", None, 50, None),
        (None, None, 50, None),
        # Cursor-paginated: no page numbers.
        (f"{API}?after=abc", f"{API}?before=xyz", 50, None),
        # next is not page 2 (a list started mid-way): follow next.
        (f"{API}?page=4", f"{API}?page=9", 50, None),
        # last differs in more than the page number: do not invent URLs.
        (f"{API}?page=2&per_page=100", f"{API}?page=5&per_page=30", 50, None),
        ("https://other.example/x?page=2", f"{API}?page=5", 50, None),
    ],
)
def test_plan_fan_out_table(
    next_url: str | None, last_url: str | None, max_pages: int, expected: FanOut | None
) -> None:
    """Fan-out only for page-numbered lists whose next/last agree; the page cap marks truncation."""
    assert plan_fan_out(next_url, last_url, max_pages) == expected
