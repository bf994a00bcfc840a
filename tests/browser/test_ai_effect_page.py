"""The admin's models page shows the AI pre-annotation's effect: the reading time ratio with its CI on a
seeded set whose true ratio is known (0.4), and the CSV export behind a link."""

from __future__ import annotations

import re

from ildplatform import services
from tests.test_ai_effect import seed_readings

PASSWORD = "pass-word-1"


def test_models_page_shows_the_ai_effect_with_its_interval(transactional_db, open_session, live_server, artifacts):
    seed_readings()
    services.user_create(username="boss", role="admin", password=PASSWORD)
    services.user_create(username="clin", role="clinician", password=PASSWORD)
    page = open_session("boss", PASSWORD)
    page.goto(f"{live_server.url}/models/")
    page.wait_for_selector("#app[data-ready='1'] [data-testid=ai-effect]")
    text = page.get_by_test_id("ai-time-ratio").inner_text()
    shape = r"Reading time ratio: (\d\.\d\d) \(95 % CI (\d\.\d\d)–(\d\.\d\d); 7 readings with, 7 without\)"
    found = re.fullmatch(shape, text)
    assert found, text
    ratio, low, high = (float(value) for value in found.groups())
    assert ratio == 0.40 and low < 0.4 < high
    assert "2.8x" in page.get_by_test_id("ai-effect").inner_text()
    with page.expect_download() as download:
        page.get_by_test_id("readings-csv").click()
    assert download.value.suggested_filename == "readings.csv"
    page.get_by_test_id("ai-effect").screenshot(path=str(artifacts / "models-ai-effect.png"))

    clinician = open_session("clin", PASSWORD)
    clinician.goto(f"{live_server.url}/models/")
    clinician.wait_for_selector("#app[data-ready='1']")
    assert clinician.get_by_test_id("ai-effect").count() == 0
