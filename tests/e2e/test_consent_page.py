"""A customer opens the emailed link in a real browser (headless Chromium through Selenium)
and answers: the embedded AWS and the local API server, the page's stylesheet under its
Content-Security-Policy, phone and desktop layouts, the buttons, and the answer reaching
the audit trail through the domain-events bus.

Needs ``chromium`` and ``chromium-driver`` (``scripts/install-browser.sh``); without them
these tests are skipped with that reason. Screenshots go to ``$MONOSUB_SCREENSHOTS`` when set
(else the test's temporary directory).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub.consent import service
from monosub.store import audit
from monosub.store import consents as consents_store
from tests.e2e.conftest import Http
from tests.unit.test_consent_document import document, line

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    SELENIUM = True
except ImportError:  # pragma: no cover - a dev dependency
    SELENIUM = False

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER and SELENIUM),
    reason="headless Chromium is not installed (chromium, chromium-driver): "
    "run scripts/install-browser.sh",
)

AGREE_BLUE = "rgba(11, 107, 203, 1)"  # button.agree in consent_style.j2: proof the CSS applied


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-proxy-server",
        "--lang=ja-JP",
        "--window-size=1024,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options
    )
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("MONOSUB_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot(driver: Any, path: Path, *, width: int, mobile: bool) -> None:
    """The whole page at ``width`` CSS pixels (a phone when ``mobile``), as PNG."""
    metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics | {"height": height})
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    path.write_bytes(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def large_order() -> Any:
    """The usual two lines and a big one with a long model number: the layout's worst case."""
    usual = document()
    big = line(
        name="屋外ポール設置工事一式 INSTALL-OUTDOOR-POLE-MOUNT-KIT-2026-EXTENDED",
        quantity=1,
        unit="式",
        unit_list_price=1_250_000,
        list_price=1_250_000,
        discount=250_000,
        discounted_price=1_000_000,
    )
    return usual.model_copy(update={"lines": (*usual.lines, big)})


def emailed_link(
    cloud: EmbeddedAWS, http: Http, subject_id: str, order: Any = None
) -> tuple[str, str]:
    """Ask for consent as the quotes feature will; the link from the email it sent."""
    from moto.ses.models import ses_backends

    with cloud.as_function("api"):
        request = service.request_consent(
            "quote",
            subject_id,
            1,
            "hanako@example.jp",
            "山田 花子",
            order or document(),
            requested_by="sato",
            link_base=http.url,
            references={"deal_id": f"deal_{subject_id}"},
        )
    message = ses_backends["123456789012"]["ap-northeast-1"].sent_messages[-1]
    assert message.subject == "【ご確認のお願い】お見積り内容のご確認"
    (link,) = set(re.findall(r'<a href="([^"]+/consent/[^"]+)"', message.body))
    return request.consent_id, link


def consent(cloud: EmbeddedAWS, consent_id: str) -> Any:
    with cloud.as_function("api"):
        return consents_store.get(consent_id)


# The right edge of the rightmost box or line of text (text can overflow a box that fits).
_RIGHTMOST_TEXT_OR_BOX = """
const edges = [...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right);
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const range = document.createRange();
  range.selectNodeContents(node);
  for (const rect of range.getClientRects()) edges.push(rect.right);
}
return Math.max(...edges);
"""


def fits_a_phone(driver: Any, width: int = 320) -> bool:
    """No element of the page reaches past the right edge of a phone's screen."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        widest = driver.execute_script(_RIGHTMOST_TEXT_OR_BOX)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return bool(widest <= width)


def lines_of_text(driver: Any, element: Any) -> int:
    """On how many lines the browser laid out the element's text."""
    return int(
        driver.execute_script(
            "const range = document.createRange(); range.selectNodeContents(arguments[0]);"
            "return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;",
            element,
        )
    )


def csp_violations(driver: Any) -> list[str]:
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused" in entry["message"]
    ]


def test_the_customer_agrees_in_a_browser(cloud, http, browser, shots):
    consent_id, link = emailed_link(cloud, http, "q_browser_agree", large_order())
    cloud.advance(hours=3)  # she reads the mail after lunch

    browser.get(link)
    assert browser.title == "お見積り内容のご確認｜株式会社モノサブ"
    body = browser.find_element(By.TAG_NAME, "body").text
    for text in ("山田 花子 様", "見守りカメラ MS-100", "36,000円", "−6,000円", "30,000円"):
        assert text in body, text
    assert "3,600円/月" in body and "有効期限は発行日から30日です。" in body
    assert "1,030,000円" in body  # the one-time total with the big line
    agree = browser.find_element(By.ID, "agree")
    assert "同意する" in agree.text
    # The inline stylesheet ran under the page's CSP (its hash is allowed), nothing was refused.
    assert agree.value_of_css_property("background-color") == AGREE_BLUE
    assert csp_violations(browser) == []

    screenshot(browser, shots / "consent-page-desktop.png", width=1024, mobile=False)
    # Short labels stay whole beside 7-digit amounts (Japanese may break between any two
    # characters: 初期費用 must not become a column of single characters).
    for cell in browser.find_elements(By.CSS_SELECTOR, "td.kind"):
        assert lines_of_text(browser, cell) == 1, cell.text
    screenshot(browser, shots / "consent-page-phone.png", width=390, mobile=True)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 800, "deviceScaleFactor": 1, "mobile": True},
    )
    for header in browser.find_elements(By.CSS_SELECTOR, "table thead"):
        assert header.value_of_css_property("display") == "none"  # cards on a phone
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert fits_a_phone(browser)

    browser.find_element(By.ID, "agree").click()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("同意を受け付けました"))
    result = browser.find_element(By.TAG_NAME, "h1").text
    assert "同意を受け付けました" in result
    assert consent_id in browser.find_element(By.TAG_NAME, "body").text  # 受付番号
    screenshot(browser, shots / "consent-agreed.png", width=1024, mobile=False)

    agreed = consent(cloud, consent_id)
    assert agreed.status == "agreed"
    assert agreed.answer.ip == "127.0.0.1"
    assert "HeadlessChrome" in agreed.answer.user_agent
    assert agreed.answer.document_sha256 == agreed.document_sha256
    assert agreed.answer.answered_at == "2026-11-02T04:00:00Z"

    # The agreement went over the bus to the audit trail, filed under the deal.
    cloud.wait_for_executions()
    with cloud.as_function("event-journal"):
        trail = [entry["type"] for entry in audit.trail("deal", "deal_q_browser_agree")]
    assert trail == ["ConsentRequested", "ConsentGiven"]

    # Opening the link again (or the back button and a second click) changes nothing.
    browser.get(link)
    assert "ご回答済みです" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot(browser, shots / "consent-answered.png", width=1024, mobile=False)
    assert consent(cloud, consent_id).answer == agreed.answer


def test_the_customer_declines_with_a_reason_in_a_browser(cloud, http, browser, shots):
    consent_id, link = emailed_link(cloud, http, "q_browser_decline")

    browser.get(link)
    browser.find_element(By.ID, "reason").send_keys("台数を2台に減らしたいです。")
    browser.find_element(By.ID, "decline").click()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("ご回答を受け付けました"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "「同意しない」とのご回答" in body and "台数を2台に減らしたいです。" in body
    screenshot(browser, shots / "consent-declined-phone.png", width=390, mobile=True)
    assert fits_a_phone(browser)  # the long 受付番号 wraps instead of overflowing

    declined = consent(cloud, consent_id)
    assert declined.status == "declined"
    assert declined.answer.reason == "台数を2台に減らしたいです。"

    # A link with one character changed is refused with a page that names no customer.
    browser.get(link[:-1] + ("A" if link[-1] != "A" else "B"))
    assert "リンクが正しくありません" in browser.find_element(By.TAG_NAME, "h1").text
    assert "株式会社" not in browser.find_element(By.TAG_NAME, "body").text
    screenshot(browser, shots / "consent-invalid.png", width=1024, mobile=False)
    assert consent(cloud, consent_id).status == "declined"
