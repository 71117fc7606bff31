"""The dashboard in headless Chromium, N loans in the local stack: load ms, DynamoDB requests, HTML bytes.

The main page and a loan page are each loaded 5 times (after one untimed load); a load is navigation start to
the end of the load event (Navigation Timing); the requests (exact) and bytes are those of one fetch.

The local stack is moto's server on 127.0.0.1 with the APIs served by `handlers.http_local`. The portfolio is
seeded (`portfolio`, random but fixed by `SEED`): every status, loans opened over the last `SPREAD_DAYS` days,
repayments; each loan's events are checked by the Loan itself and folded by the loan-summary and loan-risk
projections' own functions, and the rows and counters written as a rebuild writes them. One loan with a long
history goes through the real write path and the projector. Chromium is /usr/bin/chromium driven by selenium, as
the browser test drives it.

Run: `python -m benchmarks.dashboard --loans 10000` (`--screenshots docs/` also writes docs/dashboard-N.png,
the main page at 1366 px full length, and docs/loan-page.png). Wall times on moto measure moto too
(docs/local-aws.md); the requests per page are the portable figure.
"""

from __future__ import annotations

import argparse
import base64
import math
import random
import statistics
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.events import Event
from core.ids import path_segment
from handlers import cli
from handlers.app import App
from handlers.http_local import ApiServer, default_handlers
from handlers.local import LocalStack
from handlers.settings import Settings
from handlers.tables import ensure_tables
from loans import Loan
from loans.dashboard_sources import SUMMARY
from loans.loan import CENT, CHANNELS, UNRECORDED
from loans.risk import RISK
from projections.definition import Row, add_counts
from projections.dynamodb_store import DynamoDBProjectionStore

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver (as root) and pip install selenium"
#: The portfolio's random seed: the same loans, amounts and paths on every run.
#: The projections the dashboard reads, seeded as a rebuild fills them.
PROJECTIONS = (SUMMARY, RISK)
SEED = 17
#: Loans are opened over this many days before the run, more of them lately (a growing book).
SPREAD_DAYS = 45
#: Where a loan ends up, and how often (percent).
ENDS = {"CREATED": 5, "APPROVED": 4, "REJECTED": 7, "DISBURSED": 12, "PAID": 40, "ARREARS": 12, "SETTLED": 14,
        "COLLECTIONS": 6}
#: The long-history loan's repayments (the loan page's subject).
LONG_PAYMENTS = 160
VIEWPORT = (1366, 900)
PAYING = sorted(CHANNELS - {UNRECORDED})


def loan_events(rng: random.Random, end: str, opened: datetime, now: datetime) -> list[Event]:
    """One loan's events from LoanCreated at `opened` to status `end`, at times between `opened` and `now`."""
    requested = Decimal(rng.randrange(5, 500) * 100)
    interest = Decimal(rng.choice(("0.05", "0.075", "0.1", "0.12", "0.15")))
    balance = (requested * (1 + interest)).quantize(CENT)
    steps: list[tuple[str, dict[str, Any]]] = [("LoanCreated", {"requested_amount": requested, "interest": interest})]
    if end == "REJECTED":
        steps.append(("LoanRejected", {}))
    elif end != "CREATED":
        steps.append(("LoanApproved", {}))
    if end not in ("CREATED", "APPROVED", "REJECTED"):
        steps.append(("LoanDisbursed", {}))
        instalment = (balance / 12).quantize(CENT)
        payments = {"DISBURSED": 0, "PAID": rng.randint(1, 8), "ARREARS": rng.randint(0, 3),
                    "COLLECTIONS": rng.randint(0, 2), "SETTLED": 0}[end]
        steps += [("LoanPaid", {"amount": instalment, "channel": rng.choice(PAYING)})] * payments
        if end == "SETTLED":
            parts = rng.randint(2, 5)
            share = (balance / parts).quantize(CENT)
            amounts = [share] * (parts - 1) + [balance - share * (parts - 1)]
            steps += [("LoanPaid", {"amount": amount, "channel": rng.choice(PAYING)}) for amount in amounts]
            steps.append(("LoanSettled", {}))
        if end in ("ARREARS", "COLLECTIONS"):
            steps.append(("LoanArrears", {}))
        if end == "COLLECTIONS":
            steps.append(("LoanCollections", {}))
    span = (now - opened).total_seconds()
    times = sorted(rng.uniform(0, span) for _ in steps[1:])
    return [Event(kind, data, number, opened + timedelta(seconds=offset))
            for number, ((kind, data), offset) in enumerate(zip(steps, [0.0, *times], strict=True), start=1)]


def portfolio(loans: int, now: datetime, seed: int = SEED) -> Iterator[tuple[str, list[Event]]]:
    """`loans` loans: each one's id and events, legal for the Loan (checked by folding them into one)."""
    rng = random.Random(seed)
    ends, weights = list(ENDS), list(ENDS.values())
    for _ in range(loans):
        loan_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        opened = now - timedelta(days=SPREAD_DAYS * (1 - math.sqrt(rng.random())))
        events = loan_events(rng, rng.choices(ends, weights)[0], opened, now)
        Loan(loan_id).apply(events)
        yield loan_id, events


def seed(app: App, loans: int, now: datetime) -> None:
    """The portfolio's rows, counters and event counters of every projection the dashboard reads (the summary and
    the risk view), as a rebuild writes them."""
    history = list(portfolio(loans, now))
    for name in PROJECTIONS:
        projection, tables = app.live_tables(name)
        rows: dict[str, Row] = {}
        counters: dict[str, dict[str, Decimal]] = {}
        daily: dict[str, dict[str, Decimal]] = {}
        for loan_id, events in history:
            row: Row | None = None
            for event in events:
                row = projection.fold(row, event)
                add_counts(daily, projection.event_counters(event) if projection.event_counters else {})
            assert row is not None
            row["version"] = len(events)
            add_counts(counters, projection.counters(row) if projection.counters else {})
            rows[loan_id] = row
        store = DynamoDBProjectionStore(projection, app.dynamodb)
        store.put_rows(tables, rows)
        store.put_totals(tables, "0", counters, daily)


def long_loan(app: App, now: datetime) -> Loan:
    """A loan with `LONG_PAYMENTS` repayments over 60 days, committed and projected as the service would, with
    the `meta` the commands API gives each event (the request's id and the caller); then a new application,
    committed now, so the read side's last batch is a current one."""
    rng = random.Random(SEED + 1)
    repository = app.repository(Loan)
    loan = Loan(str(uuid.UUID(int=rng.getrandbits(128), version=4)), repository=repository)
    opened = now - timedelta(days=60)

    def meta(caller: str) -> dict[str, str]:
        return {"correlation_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "caller": f"arn:aws:iam::123456789012:{caller}"}

    events = [Event("LoanCreated", {"requested_amount": Decimal("250000.00"), "interest": Decimal("0.08")},
                    created=opened, meta=meta("user/loan-officer")),
              Event("LoanApproved", created=opened + timedelta(hours=20), meta=meta("user/credit-committee")),
              Event("LoanDisbursed", created=opened + timedelta(days=2), meta=meta("role/disbursements"))]
    for number in range(LONG_PAYMENTS):
        amount = Decimal(rng.randrange(400, 2500)).quantize(CENT)
        when = opened + timedelta(days=2.5 + number * 57 / LONG_PAYMENTS, minutes=rng.randrange(600))
        events.append(Event("LoanPaid", {"amount": amount, "channel": rng.choice(PAYING)}, created=when,
                            meta=meta("role/payments-import")))
    for start in range(0, len(events), 50):
        loan.commit(events[start:start + 50])
    cli.main(["project", "--once"], app)
    application = Loan(str(uuid.UUID(int=rng.getrandbits(128), version=4)), repository=repository)
    application.commit(Event("LoanCreated", {"requested_amount": Decimal("12000.00"), "interest": Decimal("0.1")},
                             meta=meta("user/loan-officer")))
    cli.main(["project", "--once"], app)
    return loan


def browser(width: int, height: int) -> Any:
    """Headless Chromium at `width` x `height` CSS pixels, or an error saying how to install what is missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium")
    if missing:
        raise SystemExit(f"the dashboard benchmark needs {', '.join(missing)}: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return driver


def load_ms(driver: Any, url: str) -> float:
    """One load of `url`: navigation start to the end of the load event, from the browser's Navigation Timing."""
    driver.get(url)
    return float(driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime;"))


def screenshot(driver: Any, url: str, path: Path) -> None:
    """The whole page at the viewport's width, however long it is."""
    driver.get(url)
    height = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": VIEWPORT[0], "height": math.ceil(height), "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def fetched(url: str, app: App) -> tuple[int, int]:
    """The DynamoDB requests one fetch of `url` makes, and its body's bytes."""
    requests = [0]

    def count(**_: Any) -> None:
        requests[0] += 1

    app.dynamodb.meta.events.register("before-call.dynamodb", count)
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            size = len(response.read())
    finally:
        app.dynamodb.meta.events.unregister("before-call.dynamodb", count)
    return requests[0], size


def run(quick: bool = False, loans: int = 10_000, times: int = 5,
        screenshots: Path | None = None) -> list[dict[str, Any]]:
    loans = 1_000 if quick else loans
    now = datetime.now(UTC)
    with LocalStack() as stack:
        app = App(stack.settings(Settings.from_env()))
        ensure_tables(app)
        seed(app, loans, now)
        loan = long_loan(app, now)
        server = ApiServer(handlers=default_handlers(app)).start()
        driver = browser(*VIEWPORT)
        rows = []
        try:
            pages = {"main": "/dashboard", "loan": f"/dashboard/loans/{path_segment(loan.id)}"}
            for name, path in pages.items():
                url = server.url + path
                requests, size = fetched(url, app)
                load_ms(driver, url)  # a first load warms the browser's and the stack's caches
                seconds = [load_ms(driver, url) for _ in range(times)]
                rows.append({"loans": loans, "page": name, "median_ms": round(statistics.median(seconds), 1),
                             "min_ms": round(min(seconds), 1), "max_ms": round(max(seconds), 1),
                             "dynamodb_requests": requests, "bytes": size})
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                screenshot(driver, server.url + pages["main"], screenshots / f"dashboard-{loans}.png")
                screenshot(driver, server.url + pages["loan"], screenshots / "loan-page.png")
        finally:
            driver.quit()
            server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=10_000, help="loans in the portfolio (default 10,000)")
    parser.add_argument("--times", type=int, default=5, help="timed loads of each page (default 5)")
    parser.add_argument("--screenshots", type=Path, metavar="DIR",
                        help="also write DIR/dashboard-N.png and DIR/loan-page.png")
    args = parser.parse_args()
    if args.loans < 1 or args.times < 1:
        parser.error(f"--loans and --times must be at least 1, not {args.loans} and {args.times}")
    for row in run(loans=args.loans, times=args.times, screenshots=args.screenshots):
        print("  ".join(f"{key}={value}" for key, value in row.items()))


if __name__ == "__main__":
    main()
