"""The risk view: a loan's due date and days past due (the domain rule, at the bucket edges), the `loan-risk`
projection (buckets from its counters equal the write side's own reckoning whatever the stream does; rebuilt and
verified like the rest), and the list routes: worst first, search, CSV, bad input."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.store import InMemoryEventStore
from handlers import queries
from handlers.app import App
from handlers.cli import main
from handlers.projector import runner
from handlers.tables import ensure_tables
from loans import Loan
from loans.dashboard_risk import csv_cell, csv_text, loan_count
from loans.dashboard_sources import sources
from loans.loan import BOOK, TERM_DAYS, days_past_due, next_due
from loans.risk import loan_risk
from projections.projector import Projector, StreamEvent
from testkit import check_projection
from testkit.projections import commit_histories, deliveries, projection_store
from tests.api_support import LambdaContext
from tests.dashboard_support import Page

START = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
QUICK = settings(max_examples=15, derandomize=True, database=None, deadline=None)


def at(days: float) -> datetime:
    return START + timedelta(days=days)


def disbursed(day: float | datetime, amount: str = "100.00", loan_id: str | None = None, store: Any = None) -> Loan:
    """A loan disbursed `day` days after START (or at that moment)."""
    moment = day if isinstance(day, datetime) else at(day)
    loan = Loan(loan_id, store=store) if store is not None else Loan(loan_id)
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal(amount), "interest": Decimal("0"),
                  "created": moment}, {"type": "LoanApproved", "created": moment},
                 {"type": "LoanDisbursed", "created": moment}])
    return loan


def late_by(days: int) -> datetime:
    """When a loan disbursed then is `days` past due today (UTC): its due date is `days` days ago."""
    return datetime.now(UTC) - timedelta(days=TERM_DAYS + days)


# the domain rule ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("late", "expected"), [(-5, 0), (0, 0), (1, 1), (30, 30), (31, 31), (90, 90), (91, 91)])
def test_days_past_due_are_whole_utc_days_after_the_due_date(late: int, expected: int) -> None:
    due = date(2026, 4, 1)
    assert days_past_due(due, due + timedelta(days=late)) == expected
    assert days_past_due(None, due) == 0


def test_the_due_date_is_the_utc_day_of_the_last_repayment_or_disbursement_plus_the_term() -> None:
    store = InMemoryEventStore()
    loan = disbursed(0, store=store)
    assert loan.due == START.date() + timedelta(days=TERM_DAYS) == next_due(START)
    late_evening = datetime(2026, 3, 10, 23, 30, tzinfo=UTC).astimezone(datetime.now().astimezone().tzinfo)
    loan.commit({"type": "LoanPaid", "amount": Decimal("10.00"), "created": late_evening})
    assert loan.due == date(2026, 4, 9)  # the UTC day of the repayment, whatever zone it was given in
    assert loan.days_past_due(date(2026, 4, 9)) == 0 and loan.days_past_due(date(2026, 4, 10)) == 1
    loan.commit({"type": "LoanArrears", "created": at(60)})
    assert loan.due == date(2026, 4, 9)  # arrears moves no date: only money does
    assert loan.days_past_due(date(2026, 7, 8)) == 90 and loan.days_past_due(date(2026, 7, 9)) == 91


def test_a_loan_owing_nothing_or_outside_the_book_has_no_due_date() -> None:
    store = InMemoryEventStore()
    loan = Loan(store=store)
    loan.commit({"type": "LoanCreated", "requested_amount": Decimal("50.00"), "interest": Decimal("0")})
    assert loan.status not in BOOK and loan.due is None and loan.days_past_due(date(2030, 1, 1)) == 0
    paid_off = disbursed(0, store=store)
    paid_off.commit({"type": "LoanPaid", "amount": Decimal("100.00"), "created": at(3)})
    assert paid_off.due is None
    paid_off.commit({"type": "LoanSettled", "created": at(4)})
    assert paid_off.due is None and paid_off.days_past_due(date(2030, 1, 1)) == 0


# the projection ---------------------------------------------------------------------------------------------------

def dated(kind: str, day: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "created": at(day), **fields}


def dated_step(choice: int, part: int, day: int) -> Any:
    """A legal next step of the loan on `day` (days after START), or nothing once the loan is closed."""
    steps = {"CREATED": ("LoanApproved", "LoanRejected"), "APPROVED": ("LoanDisbursed",),
             "DISBURSED": ("LoanPaid", "LoanArrears"), "PAID": ("LoanPaid", "LoanArrears", "LoanSettled"),
             "ARREARS": ("LoanPaid", "LoanCollections")}

    def decide(loan: Loan) -> dict[str, Any] | None:
        options = steps.get(loan.status or "", ())
        if not options:
            return None
        kind = options[choice % len(options)]
        if kind == "LoanPaid":
            amount = loan.balance if part == 0 else (loan.balance / (part + 1)).quantize(Decimal("0.01"))
            return dated(kind, day, amount=amount)
        return dated(kind, day)
    return decide


DAYS = st.integers(0, 200)
DATED_COMMANDS = st.one_of(
    st.builds(lambda amount, day: dated("LoanCreated", day, requested_amount=amount, interest=Decimal("0.1")),
              st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000.00"), places=2), DAYS),
    st.builds(dated_step, st.integers(0, 5), st.integers(0, 3), DAYS),
    st.builds(dated_step, st.integers(0, 5), st.integers(0, 3), DAYS),
)


def test_the_risk_projection_passes_the_projection_properties() -> None:
    """Rows and counters equal the log applied once under any delivery; verify finds nothing; rebuild == live."""
    check_projection(loan_risk(), DATED_COMMANDS, max_commands=12, settings=QUICK)


def reckoned(loans: list[Loan], today: date) -> dict[str, Any]:
    """The buckets from the loans' own state: each loan's days past due and balance, bucketed by hand."""
    edges = (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, 10 ** 6))
    book = [loan for loan in loans if loan.due is not None]
    total = sum((loan.balance for loan in book), Decimal(0))
    late = {label: [loan for loan in book if low <= loan.days_past_due(today) <= high] for label, low, high in edges}
    over = {days: sum((loan.balance for loan in book if loan.days_past_due(today) > days), Decimal(0))
            for days in (30, 90)}
    return {"buckets": [(label, len(late[label]), sum((loan.balance for loan in late[label]), Decimal(0)))
                        for label, _, _ in edges],
            "par30": (over[30] / total).quantize(Decimal("0.0001")) if total else None,
            "par90": (over[90] / total).quantize(Decimal("0.0001")) if total else None,
            "book": (len(book), total)}


@QUICK
@given(each=st.lists(st.lists(DATED_COMMANDS, max_size=10), min_size=1, max_size=4), today=st.integers(0, 330),
       data=st.data())
def test_buckets_from_any_delivery_equal_the_loans_own_days_past_due(each: list[list[Any]], today: int,
                                                                    data: st.DataObject) -> None:
    from loans.risk import buckets

    projection = loan_risk()
    events = InMemoryEventStore()
    ids = commit_histories(Loan, events, each)
    store, tables = projection_store(projection)
    projector = Projector(projection, None, events, lambda: tables, rows=store)
    stream = [StreamEvent(loan_id, record, f"{loan_id}-{record.number:06d}")
              for loan_id in ids for record in events.read(loan_id)]
    for batch in deliveries(data, stream):
        assert not projector.apply(batch).failed
    loans = []
    for loan_id in ids:
        loan = Loan(loan_id, store=events)
        loan.hydrate()
        loans.append(loan)
    day = START.date() + timedelta(days=today)
    shown = buckets(store.counters(tables), day)
    want = reckoned(loans, day)
    assert [(b["days"], b["loans"], b["outstanding"]) for b in shown["buckets"]] == want["buckets"]
    assert (shown["par30"], shown["par90"]) == (want["par30"], want["par90"])
    assert (shown["book"]["loans"], shown["book"]["outstanding"]) == want["book"]


def test_buckets_at_their_edges() -> None:
    from loans.risk import buckets

    today = date(2026, 6, 30)
    owed = {0: "1.00", 1: "2.00", 30: "4.00", 31: "8.00", 60: "16.00", 61: "32.00", 90: "64.00", 91: "128.00",
            -30: "256.00"}
    counters = {f"due#{today - timedelta(days=late)}": {"loans": 1, "outstanding": Decimal(amount)}
                for late, amount in owed.items()}
    shown = buckets(counters, today)
    assert shown["current"] == {"loans": 2, "outstanding": Decimal("257.00")}
    assert [(b["days"], b["loans"], b["outstanding"]) for b in shown["buckets"]] == [
        ("1-30", 2, Decimal("6.00")), ("31-60", 2, Decimal("24.00")), ("61-90", 2, Decimal("96.00")),
        ("90+", 1, Decimal("128.00"))]
    assert shown["book"] == {"loans": 9, "outstanding": Decimal("511.00")}
    assert shown["par30"] == Decimal("0.4853")  # (8 + 16 + 32 + 64 + 128) / 511 = 248 / 511
    assert shown["par90"] == Decimal("0.2505")  # 128 / 511
    assert buckets({}, today)["par30"] is None


# the routes (moto, through the queries handler) ---------------------------------------------------------------------

def get(app: App, path: str, query: dict[str, str] | None = None, html: bool = False) -> tuple[int, dict, str]:
    event = {"httpMethod": "GET", "path": path, "resource": path,
             "headers": {"Accept": "text/html"} if html else {}, "queryStringParameters": query,
             "requestContext": {"requestId": "req-risk", "stage": "test"}, "body": None, "isBase64Encoded": False}
    response = queries.handler_for(app)(event, LambdaContext(function_name="loan-queries"))
    headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    return response["statusCode"], {**headers, **(response.get("headers") or {})}, response["body"]


HOSTILE = ['=HYPERLINK("http://x","y")', '+1,"2" three', "-4", "@sum(A1)", "plain ✓ 🙂", 'a"b\\c`d/e?f#g']


@pytest.fixture
def book(app: App, aws: None) -> dict[str, list[Loan]]:
    """Loans in arrears past due by days in every bucket, with different balances (hostile ids among them), one in
    collections, one not yet due, all projected."""
    ensure_tables(app)
    made = []
    for loan_id, late in zip(HOSTILE, (3, 45, 31, 75, 120, 90), strict=True):
        loan = disbursed(late_by(late), amount=f"{100 + late}.00", loan_id=loan_id)
        loan.commit({"type": "LoanArrears"})
        made.append(loan)
    twin = disbursed(late_by(45), amount="150.00", loan_id="twin-1")  # due with HOSTILE[1]: the balance decides
    twin.commit({"type": "LoanArrears"})
    made.append(twin)
    gone = disbursed(late_by(200), loan_id="collected")
    gone.commit([{"type": "LoanArrears"}, {"type": "LoanCollections"}])
    current = disbursed(late_by(-10), loan_id="current")
    runner(app).drain()
    return {"arrears": made, "collections": [gone], "current": [current]}


@pytest.fixture
def arrears(book: dict[str, list[Loan]]) -> list[Loan]:
    return book["arrears"]


def worst_first(loans: list[Loan], today: date) -> list[str]:
    return [loan.id for loan in sorted(loans, key=lambda loan: (loan.days_past_due(today), loan.balance),
                                       reverse=True)]


def test_a_list_is_worst_first_searchable_and_its_csv_and_aws_es_query_show_the_same(app: App, arrears: list[Loan],
                                                                                       capsys: Any) -> None:
    """One book for the list page, its CSV export, a search by exact id and by prefix, and `aws-es query --list`."""
    today = datetime.now(UTC).date()
    status, _, body = get(app, "/dashboard/lists/arrears")
    page = Page(body)
    assert status == 200 and page.scripts == 1  # the one allowed by its hash, as on every dashboard page
    rows = page.rows("arrears")[1:]
    assert [row[0] for row in rows] == worst_first(arrears, today)
    assert f"{loan_count(len(arrears))}, worst first" in page.sections["arrears"]
    by_id = {loan.id: loan for loan in arrears}
    assert all(row[1] == str(by_id[row[0]].days_past_due(today)) and row[3] == f"${by_id[row[0]].balance:,.2f}"
               for row in rows)
    status, headers, text = get(app, "/dashboard/lists/arrears.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][0] == "loan" and len(table) == len(arrears) + 1
    assert [line[0] for line in table[1:]] == [csv_cell(loan_id) for loan_id in worst_first(arrears, today)]
    assert not any(line[0].startswith(("=", "+", "-", "@")) for line in table[1:])
    assert [line[4] for line in table[1:]] == [f"{by_id[loan_id].balance:.2f}" for loan_id in worst_first(arrears,
                                                                                                          today)]
    page = Page(get(app, "/dashboard/lists/arrears", {"q": HOSTILE[5]})[2])
    assert [row[0] for row in page.rows("arrears")[1:]] == [HOSTILE[5]]
    page = Page(get(app, "/dashboard/lists/arrears", {"q": "tw"})[2])
    assert [row[0] for row in page.rows("arrears")[1:]] == ["twin-1"]
    page = Page(get(app, "/dashboard/lists/arrears", {"q": "collected"})[2])  # in the other list
    assert page.rows("arrears") == []
    page = Page(get(app, "/dashboard/lists/collections", {"q": "col"})[2])
    assert [row[0] for row in page.rows("collections")[1:]] == ["collected"]
    assert main(["query", "loan-risk", "--list", "arrears", "--json"], app) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [[loan["id"], str(loan["days_past_due"]), loan["due"], f"${Decimal(loan['balance']):,.2f}"]
            for loan in printed] == [row[:4] for row in rows]
    assert main(["query", "loan-risk", "--list", "arrears", "--search", "tw", "--json"], app) == 0
    assert [loan["id"] for loan in json.loads(capsys.readouterr().out)] == ["twin-1"]


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_text() -> None:
    loans = [{"id": loan_id, "status": "ARREARS", "days_past_due": 3, "due": "2026-01-01",
              "balance": Decimal("1234567.5"), "last_paid": None, "days_since_paid": None} for loan_id in HOSTILE]
    lines = list(csv.reader(io.StringIO(csv_text(loans))))[1:]
    assert [line[0] for line in lines] == ["'" + HOSTILE[0], "'" + HOSTILE[1], "'-4", "'@sum(A1)", HOSTILE[4],
                                           HOSTILE[5]]
    assert {line[4] for line in lines} == {"1234567.50"} and {line[6] for line in lines} == {"never paid"}


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


BAD = [("/dashboard/lists/nope", None, 404, None), ("/dashboard/lists/nope.csv", None, 404, None),
       ("/dashboard/lists/arrears", {"q": "a\x07b"}, 400, "q"), ("/dashboard/lists/arrears", {"q": ""}, 400, "q"),
       ("/dashboard/lists/arrears", {"q": "x" * 2000}, 400, "q"),
       ("/dashboard/lists/arrears", {"cursor": "e30"}, 400, "cursor"),
       ("/dashboard/lists/arrears", {"cursor": "not a cursor"}, 400, "cursor"),
       # a well-formed cursor of the other list, and one whose shard position is not a loan id
       ("/dashboard/lists/arrears", {"cursor": cursor_of({"list": "collections", "after": [None] * 8})}, 400, "cursor"),
       ("/dashboard/lists/arrears", {"cursor": cursor_of({"list": "arrears", "after": [["a\tb", "s"]] * 8})}, 400,
        "cursor")]


def test_bad_list_requests_name_what_was_wrong_as_json_and_as_a_page(app: App, aws: None) -> None:
    """One set of tables for every case (each is a read that fails before any row matters)."""
    ensure_tables(app)
    for path, query, status, field in BAD:
        code, _, body = get(app, path, query)
        reply = json.loads(body)
        assert (code, reply.get("field")) == (status, field) and len(reply["error"]) < 200, (path, query, reply)
        code, headers, body = get(app, path, query, html=True)
        assert code == status and headers["Content-Type"].startswith("text/html"), (path, query)
        assert "\x07" not in body and "Traceback" not in body


def test_buckets_equal_aws_es_query_and_the_write_side_and_a_rebuild_keeps_them(app: App,
                                                                                book: dict[str, list[Loan]],
                                                                                monkeypatch: pytest.MonkeyPatch,
                                                                                capsys: Any) -> None:
    """The page's buckets and PAR equal `aws-es query risk` and the loans' own reckoning; a rebuild of loan-risk
    verifies and shows the same counters, list and CSV."""
    today = datetime.now(UTC).date()
    assert main(["query", "risk", "--json"], app) == 0
    printed = json.loads(capsys.readouterr().out)
    want = reckoned([loan for loans in book.values() for loan in loans], today)
    labels = [label for label, _, _ in want["buckets"]]
    assert [(label, printed[label]["loans"], Decimal(printed[label]["outstanding"])) for label in labels] == \
        want["buckets"]
    assert printed["PAR30"]["share"] == str(want["par30"]) and printed["PAR90"]["share"] == str(want["par90"])
    page = Page(get(app, "/dashboard")[2])
    shown = {row[0]: row[1:] for row in page.rows("risk")[1:]}
    for label in labels:
        held = printed[label]
        assert shown[f"{label} days"] == [f"{held['loans']:,}", f"${Decimal(held['outstanding']):,.2f}"]
    assert f"PAR30 {Decimal(printed['PAR30']['share']) * 100:.2f}%" in page.sections["risk"]
    assert printed["arrears"]["loans"] == len(book["arrears"]) and printed["collections"]["loans"] == 1

    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "0")
    before = Page(get(app, "/dashboard/lists/arrears")[2]).rows("arrears"), get(app, "/dashboard/lists/arrears.csv")
    assert main(["query", "risk", "--json"], app) == 0
    counted = capsys.readouterr().out
    assert main(["rebuild", "loan-risk", "--of", "3"]) == 0
    assert sources(App.from_env()).risk.tables.generation == 1
    assert main(["rebuild", "loan-risk", "--verify"]) == 0
    assert "0 differences" in capsys.readouterr().out
    assert main(["query", "risk", "--json"]) == 0
    assert capsys.readouterr().out == counted
    app = App.from_env()
    assert (Page(get(app, "/dashboard/lists/arrears")[2]).rows("arrears"),
            get(app, "/dashboard/lists/arrears.csv")) == before


@pytest.mark.parametrize(("argv", "message"), [
    (["query", "loan-risk", "--list", "late"], "loan-risk has no list 'late': its lists are arrears, collections"),
    (["query", "loan-summary", "--list", "arrears"], "loan-summary has no list 'arrears': its lists are none"),
    (["query", "loan-risk", "--search", "x"], "--search goes with --list NAME"),
    (["query", "loan-risk", "some-id", "--list", "arrears"], "--list takes no KEY"),
])
def test_a_bad_list_on_the_command_line_is_a_usage_error(app: App, aws: None, capsys: Any, argv: list[str],
                                                         message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv, app)
    assert exited.value.code == 2 and message in capsys.readouterr().err
