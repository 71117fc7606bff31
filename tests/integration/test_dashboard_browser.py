"""The dashboard in headless Chromium: `aws-es local` in a subprocess, loans driven through its HTTP API, what
the page shows checked against `aws-es query ... --json`, a click through to a loan's history, hostile strings
shown as text, and a screenshot: to a temporary folder, or to docs/dashboard.png (the README's picture) when
`AWS_ES_SCREENSHOT=1` is set, so a test run leaves the working tree as it found it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.app import App
from handlers.settings import Settings
from loans import Loan
from loans.dashboard_format import LOCAL_TIMES
from loans.dashboard_risk import loan_count
from tests.conftest import FAKE_ENV
from tests.dashboard_support import stop

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver (as root) and pip install selenium"
#: Where the README's picture of the dashboard lives; the test writes it only when AWS_ES_SCREENSHOT=1.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
#: Read when the module loads: the tests' own fixtures clear every AWS_* variable before a test runs.
REFRESH_SCREENSHOT = os.environ.get("AWS_ES_SCREENSHOT") == "1"
AWS_ES = Path(sys.executable).with_name("aws-es")
HOSTILE_ID = "<img src=x onerror=alert(1)>&'q'"
HOSTILE_META = '"><script>alert("x")</script> & \'quoted\''
#: The loans driven through the API: their events after LoanCreated (amounts as JSON numbers).
PATHS = {
    "arrears": [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": 120},
                {"type": "LoanArrears"}],
    "collections": [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanArrears"},
                    {"type": "LoanCollections"}],
    "paid": [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": 300}],
    "settled": [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": 1050},
                {"type": "LoanSettled"}],
    "rejected": [{"type": "LoanRejected"}],
    "new": [],
    "largest": [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": 1}],
}
#: What each loan is opened with: the largest loan the domain allows (the longest figures), the others alike.
OPENED = {"largest": {"requested_amount": 1000000000, "interest": 10}}
#: Every chart text that reaches outside its SVG's box, and every tile figure wider than its tile, measured by the
#: browser's own layout.
CLIPPED = """return [...document.querySelectorAll("svg.chart")].flatMap(svg => {
  const box = svg.viewBox.baseVal;
  return [...svg.querySelectorAll("text")].map(t => [t.textContent, t.getBBox()])
    .filter(([_, b]) => b.x < box.x - 0.5 || b.x + b.width > box.x + box.width + 0.5
                        || b.y < box.y - 0.5 || b.y + b.height > box.y + box.height + 0.5)
    .map(([text, b]) => `${text}: ${b.x.toFixed(1)}..${(b.x + b.width).toFixed(1)} of ${box.width}`);
}).concat([...document.querySelectorAll(".tile-value")].filter(e => e.scrollWidth > e.clientWidth)
  .map(e => `tile ${e.textContent}: ${e.scrollWidth} px in ${e.clientWidth}`));"""


def browser() -> Any:
    """Headless Chromium driven by selenium, or a skip saying how to install what is missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium")
    if missing:
        pytest.skip(f"browser test skipped: {', '.join(missing)} missing; install with: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One Chromium for the module's tests."""
    chromium = browser()
    yield chromium
    chromium.quit()


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    """`aws-es local` in its own process, one for the module's tests (each makes loans of its own): yields the
    dashboard URL and the environment that reaches it."""
    env = {name: value for name, value in {**os.environ, **FAKE_ENV}.items() if not name.startswith("AWS_")}
    process = subprocess.Popen([str(AWS_ES), "local"], env={
        **env, "PYTHONUNBUFFERED": "1", "POWERTOOLS_METRICS_DISABLED": "true"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    found: dict[str, str] = {}
    try:
        for line in process.stdout:
            if line.startswith("  export "):
                name, value = line.removeprefix("  export ").strip().split("=", 1)
                found[name] = value
            if line.startswith("dashboard: "):
                found["dashboard"] = line.split(" ", 1)[1].strip()
                break
        assert "dashboard" in found, "aws-es local ended before it printed the dashboard's URL"
        yield found
    finally:
        stop(process)


def post(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return json.loads(response.read())


def query(stack: dict[str, str], *args: str) -> dict[str, Any]:
    env = {**os.environ, **{name: value for name, value in stack.items() if name.startswith("AWS_")}}
    out = subprocess.run([str(AWS_ES), "query", *args, "--json"], env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return json.loads(out)


def wait_projected(base: str, versions: dict[str, int], timeout: float = 30) -> float:
    """Seconds until every loan's summary row holds its version (GET /loans/{id}/summary)."""
    started = time.monotonic()
    pending = dict(versions)
    while pending and time.monotonic() - started < timeout:
        for loan_id, version in list(pending.items()):
            url = f"{base}/loans/{urllib.parse.quote(loan_id, safe='')}/summary"
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    if json.loads(response.read())["version"] >= version:
                        del pending[loan_id]
            except urllib.error.HTTPError:
                pass
        time.sleep(0.1)
    assert not pending, f"the projector did not reach {pending} within {timeout} s"
    return time.monotonic() - started


def cells(driver: Any, selector: str) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td")]
            for row in driver.find_elements(By.CSS_SELECTOR, selector)]


def scripts(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [script.get_attribute("innerHTML") for script in driver.find_elements(By.TAG_NAME, "script")]


def drive(base: str) -> dict[str, tuple[str, list[str]]]:
    """Open each loan with one POST and move it along its path: {name: (id, types in order)}."""
    loans = {}
    for name, events in PATHS.items():
        loan = post(base, "/loans", OPENED.get(name, {"requested_amount": 1000, "interest": 0.05}))
        for event in events:
            post(base, f"/loans/{loan['id']}/events", event)
        loans[name] = (loan["id"], ["LoanCreated", *(event["type"] for event in events)])
    return loans


def past_due(stack: dict[str, str], days: tuple[int, ...]) -> dict[str, int]:
    """Loans disbursed long enough ago to be past due by each of `days` today (written through the store, which
    takes an event's time as given): {id: version}."""
    there = App(Settings(endpoint=stack["AWS_ENDPOINT_URL"]))
    made = {}
    for late in days:
        moment = datetime.now(UTC) - timedelta(days=30 + late)
        loan = Loan(f"late-{late}", repository=there.repository(Loan))
        loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("200.00"), "interest": Decimal("0"),
                      "created": moment}, {"type": "LoanApproved", "created": moment},
                     {"type": "LoanDisbursed", "created": moment}])
        made[loan.id] = loan.version
    return made


def rendered(text: str) -> str:
    """Text as a browser shows it in a table cell: runs of white space as one space, none at the ends."""
    return " ".join(text.split())


def check_risk(driver: Any, stack: dict[str, str], base: str, loans: dict[str, tuple[str, list[str]]]) -> None:
    """The days-past-due buckets equal `aws-es query risk`; the arrears list's CSV export equals the list shown
    (hostile cells kept as text); a search by id prefix finds the loan."""
    import csv
    import io

    from selenium.webdriver.common.by import By

    risk = query(stack, "risk")
    assert [risk[label]["loans"] for label in ("1-30", "31-60", "61-90", "90+")] == [1, 1, 0, 1]
    shown = {row[0]: row[1:] for row in cells(driver, "#risk tbody tr")}
    for label in ("current", "1-30", "31-60", "61-90", "90+", "book"):
        key = {"current": "current (not past due)", "book": "book"}.get(label, f"{label} days")
        assert shown[key] == [f"{risk[label]['loans']:,}", f"${Decimal(risk[label]['outstanding']):,.2f}"], label
    par = driver.find_element(By.ID, "par30").text
    assert par == ("PAR30 no book" if risk["PAR30"]["share"] is None
                   else f"PAR30 {Decimal(risk['PAR30']['share']) * 100:.2f}%")
    assert f"({loan_count(risk['arrears']['loans'])}, worst first)" in driver.find_element(By.CSS_SELECTOR,
                                                                                       "#arrears h2").text
    driver.find_element(By.LINK_TEXT, "whole list").click()
    listed = cells(driver, "#arrears tbody tr")
    assert [[rendered(loan["id"]), str(loan["days_past_due"]), loan["due"], f"${Decimal(loan['balance']):,.2f}"]
            for loan in query(stack, "loan-risk", "--list", "arrears")] == [row[:4] for row in listed]
    with urllib.request.urlopen(f"{base}/dashboard/lists/arrears.csv", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/csv")
        exported = list(csv.reader(io.StringIO(response.read().decode())))
    assert exported[0][:5] == ["loan", "status", "days past due", "due date", "outstanding"]
    assert [[rendered(line[0]), line[2], line[3], f"${Decimal(line[4]):,.2f}", line[6]]
            for line in exported[1:]] == listed
    loan_id = loans["arrears"][0]
    box = driver.find_element(By.CSS_SELECTOR, "input[name=q]")
    box.send_keys(loan_id[:8])
    box.submit()
    assert loan_id in [row[0] for row in cells(driver, "#arrears tbody tr")]
    driver.get(stack["dashboard"])


def test_the_dashboard_in_a_browser(driver, stack, monkeypatch, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    base = stack["dashboard"].removesuffix("/dashboard")
    loans = drive(base)
    late = past_due(stack, (12, 40, 95))
    seconds = wait_projected(base, {**{loan_id: len(types) for loan_id, types in loans.values()}, **late})
    assert seconds < 2, f"the dashboard showed the last commit after {seconds:.1f} s"
    driver.get(stack["dashboard"])
    portfolio = query(stack, "portfolio")
    shown = {row[0]: row[1:] for row in cells(driver, "#portfolio tbody tr")}
    lent = [v for status, v in portfolio.items() if status not in ("CREATED", "APPROVED", "REJECTED")]
    assert shown.pop("book (lent)") == [f"{sum(v['loans'] for v in lent):,}",
                                        f"${sum(Decimal(v['principal']) for v in lent):,.2f}",
                                        f"${sum(Decimal(v['outstanding']) for v in lent):,.2f}"]
    assert shown.pop("pipeline (applications)") == ["1", "$1,000.00", "$0.00"]
    assert shown == {status: [f"{v['loans']:,}", f"${Decimal(v['principal']):,.2f}",
                              f"${Decimal(v['outstanding']):,.2f}"] for status, v in portfolio.items()}
    tiles = {tile.find_element(By.CLASS_NAME, "tile-name").text: tile.find_element(By.CLASS_NAME, "tile-value").text
             for tile in driver.find_elements(By.CLASS_NAME, "tile")}
    outstanding = sum(Decimal(v["outstanding"]) for v in lent)
    behind = sum(Decimal(portfolio[status]["outstanding"]) for status in ("ARREARS", "COLLECTIONS"))
    month = query(stack, "daily", time.strftime("%Y-%m", time.gmtime()))
    assert tiles == {
        "Outstanding book": f"${outstanding:,.2f}",
        "Disbursed principal": f"${sum(Decimal(v['principal']) for v in lent):,.2f}",
        "Active loans": str(sum(v["loans"] for status, v in portfolio.items() if status in (
            "DISBURSED", "PAID", "ARREARS", "COLLECTIONS"))),
        "Arrears share": f"{behind / outstanding * 100:.1f}%",
        "Collected this month": f"${Decimal(next(iter(month.values()))['collected']):,.2f}",
        "Pipeline (applications, not lent)": "$1,000.00"}
    for name in ("arrears", "collections"):
        loan_id = loans[name][0]
        row = query(stack, "loan-risk", loan_id)  # due today + 30 days: not past due
        assert [line for line in cells(driver, f"#{name} tbody tr") if line[0] == loan_id] == [
            [loan_id, "0", row["due"], f"${Decimal(row['balance']):,.2f}", "0" if "last_paid" in row else "never paid"]]
    assert driver.execute_script(CLIPPED) == []  # the largest loan's figures included
    (when,) = driver.find_elements(By.CSS_SELECTOR, "p.muted time")
    assert when.get_attribute("title").endswith("+00:00") and not when.text.endswith("UTC")  # the hashed script ran
    check_risk(driver, stack, base, loans)
    screenshot = SCREENSHOT if REFRESH_SCREENSHOT else tmp_path / "dashboard.png"
    assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 0
    driver.set_window_size(390, 844)  # a phone: one column, nothing wider than the screen
    assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    lefts = {tile.rect["x"] for tile in driver.find_elements(By.CLASS_NAME, "tile")}
    assert len(lefts) == 1, f"the tiles do not stack at 390 px: {lefts}"
    assert driver.execute_script(CLIPPED) == []
    driver.set_window_size(1280, 2000)
    driver.get(f"{base}/dashboard/loans/{loans['largest'][0]}")
    assert ["Outstanding balance", "$10,999,999,999.00"] in cells(driver, "#summary tbody tr")
    assert driver.execute_script(CLIPPED) == [] and driver.find_elements(By.CSS_SELECTOR, "#balance polyline")
    driver.get(stack["dashboard"])

    driver.find_element(By.CSS_SELECTOR, "#arrears tbody a").click()
    history = cells(driver, "#events tbody tr")
    loan_id, types = loans["arrears"]
    assert [(int(row[0]), row[3]) for row in history] == list(zip(range(len(types), 0, -1), types[::-1],
                                                                   strict=True))
    assert [row[2] for row in history if row[3] == "LoanPaid"] == ["Paid $120.00"]
    assert ["Status", "ARREARS"] in cells(driver, "#summary tbody tr")

    there = App(Settings(endpoint=stack["AWS_ENDPOINT_URL"]))
    hostile = Loan(HOSTILE_ID, repository=there.repository(Loan))
    hostile.commit({"type": "LoanCreated", "requested_amount": Decimal("5.00"), "interest": Decimal("0"),
                    "meta": {"note": HOSTILE_META}})
    wait_projected(base, {HOSTILE_ID: 1})
    driver.get(stack["dashboard"])
    link = driver.find_element(By.LINK_TEXT, HOSTILE_ID)
    assert not driver.find_elements(By.TAG_NAME, "img") and scripts(driver) == [LOCAL_TIMES]
    link.click()
    assert ["Loan", HOSTILE_ID] in cells(driver, "#summary tbody tr")
    (created,) = cells(driver, "#events tbody tr")
    assert created[3] == "LoanCreated" and created[5] == f"note: {HOSTILE_META}"
    assert not driver.find_elements(By.TAG_NAME, "img") and scripts(driver) == [LOCAL_TIMES]
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - reading it is what raises when no script ran



def test_every_id_class_and_the_error_pages_in_a_browser(driver, stack):
    """A loan of every id class the README allows, reached by following its link on the dashboard (the page is
    read once: the first link is clicked, the others' hrefs opened); an unknown loan, a bad parameter and an
    undecodable id answered with pages, not JSON."""
    from selenium.webdriver.common.by import By

    from core.ids import path_segment
    from tests.unit.test_ids import ID_CLASSES

    base = stack["dashboard"].removesuffix("/dashboard")
    there = App(Settings(endpoint=stack["AWS_ENDPOINT_URL"]))
    for loan_id in ID_CLASSES.values():
        Loan(loan_id, repository=there.repository(Loan)).commit([
            {"type": "LoanCreated", "requested_amount": Decimal("10.00"), "interest": Decimal("0")},
            {"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanArrears"}])
    wait_projected(base, dict.fromkeys(ID_CLASSES.values(), 4))
    driver.get(stack["dashboard"])
    links = {a.get_attribute("href"): a for a in driver.find_elements(By.CSS_SELECTOR, "#arrears a")}
    for index, loan_id in enumerate(ID_CLASSES.values()):
        (href,) = [href for href in links if href.endswith("/dashboard/loans/" + path_segment(loan_id))]
        if index == 0:
            links[href].click()
        else:
            driver.get(href)
        assert ["Loan", " ".join(loan_id.split())] in cells(driver, "#summary tbody tr"), loan_id  # as rendered
    for path, title in (("/dashboard/loans/no-such-loan", "404 Not found"), ("/dashboard/loans/x?before=0",
                                                                            "400 Bad request"),
                        ("/dashboard/loans/%FF", "400 Bad request"), ("/dashboard/nowhere", "404 Not found")):
        driver.get(base + path)
        assert driver.title == title and driver.find_element(By.ID, "error").text, path
