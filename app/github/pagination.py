"""Reading GitHub's `Link` header and planning which pages to fetch: pure, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from yarl import URL

# <https://api.github.com/…?page=2>; rel="next", <…>; rel="last"
# https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
_LINK = re.compile(r"<(?P<url>[^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL = re.compile(r';\s*rel\s*=\s*"?(?P<rel>[^";,]+)"?')


def parse_link(header: str | None) -> dict[str, str]:
    """The `rel -> URL` pairs of a Link header (a rel may list several names: `rel="next last"`)."""
    links: dict[str, str] = {}
    if not header:
        return links
    for match in _LINK.finditer(header):
        for rel_match in _REL.finditer(match.group(2)):
            for rel in rel_match.group("rel").split():
                links.setdefault(rel.lower(), match.group("url"))
    return links


@dataclass(frozen=True)
class FanOut:
    """Pages 2..n to fetch at once, and whether `last` lay beyond the page cap."""

    urls: tuple[str, ...]
    truncated: bool


def _page_number(url: URL) -> int | None:
    raw = url.query.get("page")
    return int(raw) if raw is not None and raw.isdigit() else None


def plan_fan_out(next_url: str | None, last_url: str | None, max_pages: int) -> FanOut | None:
    """The concurrent plan for a page-numbered list, or None to follow `next` one page at a time.

    Only when `next` is page 2 and `last` differs from it by the `page` number alone: then pages 2..last
    are `next` with another page number, the one URL shape GitHub's Link header itself vouches for.
    Cursor-paginated endpoints (no `last`, or no `page`) return None.
    """
    if next_url is None or last_url is None:
        return None
    nxt, last = URL(next_url), URL(last_url)
    if _page_number(nxt) != 2:
        return None
    last_page = _page_number(last)
    if last_page is None or last_page < 2:
        return None
    if last.with_query(None) != nxt.with_query(None) or _without_page(last) != _without_page(nxt):
        return None
    stop = min(last_page, max_pages)
    urls = tuple(str(nxt.update_query(page=str(n))) for n in range(2, stop + 1))
    return FanOut(urls=urls, truncated=last_page > max_pages)


def _without_page(url: URL) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in url.query.items() if k != "page")
