"""The Dagster UI as a person uses it: Playwright drives Debian's chromium against `dagster dev`.

No browser is downloaded: Playwright's own driver (shipped in its wheel) starts the system's
``chromium``. Screenshots of each step are saved in ``test-artifacts/browser/`` of the checkout.
"""

import re
import shutil

import pytest

from tagifai_platform import services
from tagifai_platform_tests.e2e.conftest import PROJECT_ROOT, user_env
from tagifai_platform_tests.production.conftest import require

pytestmark = pytest.mark.slow  # a whole end_to_end run behind a browser: minutes

SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "browser"
RUN_TIMEOUT_MS = 15 * 60 * 1000  # an end_to_end run on a loaded 2-core machine


@pytest.fixture
def ui(tmp_path, dataset_dir, servers):
    """`dagster dev` on a fresh home (two tuning trials), and a chromium page; yields (url, page)."""
    require("chromium")
    from playwright.sync_api import sync_playwright

    env = user_env(tmp_path / "home", dataset_dir, TAGIFAI_TUNING_TRIALS="2")
    url = services.start_dagster_dev(servers, services.free_port(), env, PROJECT_ROOT)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        # As root, chromium refuses to start with its sandbox.
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            yield url, browser.new_page(viewport={"width": 1400, "height": 900})
        finally:
            browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


def test_browser_sees_the_lineage_launches_end_to_end_and_reads_checks_and_metadata(ui):
    url, page = ui
    page.goto(f"{url}/asset-groups")
    page.get_by_role("button", name="Skip").click()  # the first-visit dialog (community sign-up)
    for group in ("dataops", "mlops", "monitoring"):
        page.get_by_text(group, exact=True).first.wait_for()
    shot(page, "1-asset-groups")

    page.goto(f"{url}/assets/training_dataset?view=lineage")
    for neighbour in ("labeled_projects", "holdout_projects", "project_features", "challenger_model"):
        page.get_by_text(neighbour, exact=True).first.wait_for()
    shot(page, "2-lineage")

    page.goto(f"{url}/locations/tagifai_platform/jobs/end_to_end/playground")
    page.get_by_role("button", name="Launch run").click()
    page.get_by_role("button", name="Confirm").click()  # the job's own tag names the partition
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+$"))
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    status.wait_for(timeout=RUN_TIMEOUT_MS)
    shot(page, "3-run")
    assert status.inner_text() == "Success"

    page.goto(f"{url}/assets/model_evaluation?view=checks")
    page.get_by_text("challenger_beats_champion", exact=True).first.wait_for()
    page.get_by_text("Passed", exact=True).first.wait_for()
    shot(page, "4-checks")

    page.goto(f"{url}/assets/model_evaluation")
    row = page.locator("tr", has=page.get_by_text("confusion_matrix", exact=True)).first
    row.get_by_text("Show Markdown").click()
    page.locator("img[alt='confusion matrix']").wait_for()  # drawn, not only named
    shot(page, "5-metadata")
