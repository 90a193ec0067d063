"""The runs list's pager when the server's count stopped at its cap: "of 10,000+", and Next stays on."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, Route, expect


def test_a_capped_count_reads_10000_plus_and_next_goes_on(page: Page) -> None:
    created = page.request.post("/api/runs", data={"name": "pager", "dataset": "digits", "epochs": 1})
    assert created.status == 201, created.text()
    run = created.json()
    offsets: list[str] = []

    def capped(route: Route) -> None:
        """A full page of the one run, 10,000 of them at least, as a server with 100,000 runs answers."""
        offset = re.search(r"offset=(\d+)", route.request.url)
        offsets.append(offset.group(1) if offset else "0")
        items = [{**run, "id": run["id"] + i * 1000, "name": f"pager {i}"} for i in range(50)]
        body = {"items": items, "total": 10_000, "total_exact": False, "next_after": "x"}
        route.fulfill(body=json.dumps(body), content_type="application/json")

    page.route(re.compile(r".*/api/runs\?.*"), capped)
    page.goto("/")
    pager = page.get_by_test_id("pager-text")
    expect(pager).to_have_text(re.compile(r"^1–\d+ of 10,000\+$"))
    next_page = page.get_by_role("button", name="Next →")
    expect(next_page).to_be_enabled()
    next_page.click()
    expect(pager).to_have_text(re.compile(r"^\d+–\d+ of 10,000\+$"))
    assert any(offset != "0" for offset in offsets)
