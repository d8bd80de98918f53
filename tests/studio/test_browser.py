"""The labeling screen in a real headless Chromium: logged in, the Arabic text reads right-to-left.

Debian's ``chromium`` is installed by the ``chromium`` fixture of ``tests/conftest.py`` when missing
(apt-get, as root); ``playwright install`` is never used. The screenshot is taken on every
run; it replaces the README's ``annotation/labeling-screen.png`` when that file
is missing or ``KHABAR_UPDATE_SCREENSHOT=1`` (so a test run leaves git clean).
"""

from __future__ import annotations

import os
import shutil

import pytest

from khabar.annotation.gazetteer import Gazetteer
from khabar.annotation.ingest import load_records
from khabar.foundation.paths import repo
from khabar.studio.project import doc_id_tasks, import_preannotations, sync_project
from tests.browser_support import logged_in_page

pytestmark = [pytest.mark.studio, pytest.mark.browser]

SCREENSHOT = repo().root / "annotation" / "labeling-screen.png"
DOC_ID = "81ec20757aeac4d6"
EDITOR = ".lsf-main-view .lsf-htx-richtext"


def test_labeling_screen_renders_arabic_right_to_left(studio_server, chromium, tmp_path):
    client = studio_server.client()
    record = next(r for r in load_records(repo().documents_file) if r.doc_id == DOC_ID)
    project = sync_project(client, "labeling-screen", repo().labeling_config.read_text(encoding="utf-8"), [record], progress=lambda _: None)
    import_preannotations(client, project.project_id, Gazetteer(), progress=lambda _: None)
    task_id = doc_id_tasks(client, project.project_id)[DOC_ID]

    with logged_in_page(chromium, studio_server) as page:
        page.goto(f"{studio_server.url}/projects/{project.project_id}/data?task={task_id}")
        line = page.locator(f"{EDITOR} span.lsf-richtext__line").first
        line.wait_for(state="visible", timeout=60_000)
        # The pre-annotations load as highlighted regions.
        page.locator(f"{EDITOR} span.htx-highlight").first.wait_for(state="visible", timeout=30_000)

        editor_text = page.locator(EDITOR).first.inner_text()
        assert record.text.split("\n")[0] in editor_text
        assert line.evaluate("element => getComputedStyle(element).direction") == "rtl"
        assert page.locator(EDITOR).first.evaluate("element => getComputedStyle(element).direction") == "rtl"
        assert line.evaluate("element => getComputedStyle(element).textAlign") in {"right", "start"}
        box = line.bounding_box()
        editor_box = page.locator(EDITOR).first.bounding_box()
        assert box is not None and editor_box is not None
        assert abs((box["x"] + box["width"]) - (editor_box["x"] + editor_box["width"])) < 40, "text hugs the right edge"
        assert page.locator(f"{EDITOR} span.htx-highlight").count() > 0

        page.screenshot(path=str(tmp_path / SCREENSHOT.name))
    assert (tmp_path / SCREENSHOT.name).stat().st_size > 10_000
    if not SCREENSHOT.exists() or os.environ.get("KHABAR_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(tmp_path / SCREENSHOT.name, SCREENSHOT)
