"""`aws-es demo --loans N` (`loans/seed.py`): a portfolio through the loan commands, then the projector."""

from __future__ import annotations

from collections import Counter

import pytest

from handlers import projector
from handlers.cli import main
from handlers.tables import ensure_tables
from loans import Loan
from loans.seed import SEED_PATHS, seed, wait_visible
from projections.query import read_counters, read_row

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("value", "message"), [("0", "0 must be at least 1"), ("ten", "'ten' is not a whole number"),
                                                ("-5", "-5 must be at least 1")])
def test_a_bad_loan_count_is_a_usage_error(capsys, value, message):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--loans", value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_demo_help_names_the_loans_option(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "--loans N" in capsys.readouterr().out


@pytest.mark.parametrize(("count", "workers"), [(0, 1), (1, 0)])
def test_seed_refuses_nothing_to_do(count, workers):
    with pytest.raises(ValueError, match="must be at least 1"):
        seed(count, workers)


def test_seeded_loans_reach_the_read_side_with_every_path(server_app):
    ensure_tables(server_app)
    seeded = seed(12, workers=3, repository=server_app.repository(Loan))
    assert seeded.loans == 12 and seeded.commands == 12 + sum(len(SEED_PATHS[i % 5]) for i in range(12))
    for runner in projector.runners(server_app):
        runner.drain()
    current = server_app
    declared, tables = current.live_tables("loan-summary")
    row = read_row(current.dynamodb, declared, tables, seeded.last.id)
    assert row is not None and row["version"] == seeded.last.version
    assert wait_visible(seeded.last, lambda loan_id: int(read_row(current.dynamodb, declared, tables, loan_id)
                                                         ["version"]), timeout=5) < 1
    counters = read_counters(current.dynamodb, tables)
    loans = Counter({status: int(values.get("loans", 0)) for status, values in counters.items()})
    assert sum(loans.values()) == 12
    assert +loans == Counter({"PAID": 3, "DISBURSED": 3, "REJECTED": 2, "ARREARS": 2, "APPROVED": 2})
