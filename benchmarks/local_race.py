"""Racing writers against `aws-es local`: processes commit payments on the same loans at once, retrying on each
`ConcurrencyError`, while the stack's threads switch every microsecond; then every confirmed commit is looked
for in the log.

Run: `python -m benchmarks.local_race [--unpatched] [--writers 4] [--loans 10] [--commits 5]`. A lost commit is
one `commit()` returned that the log does not hold (two writers were both told they took the same number);
`--unpatched` runs moto as shipped, without `handlers.local_moto`'s patches.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import boto3

from benchmarks.local_process import HERE, LocalProcess, client_environment

#: One writer process of `threads` threads: waits for a line on stdin, then each thread, for each loan, commits
#: `commits` payments, each retried on a ConcurrencyError after a fresh hydrate; prints each confirmed commit
#: as [loan, number, ref].
WRITER = """
import json, sys, threading
from decimal import Decimal
from core import ConcurrencyError
from loans import Loan
ids, commits, name, threads = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
lock = threading.Lock()

def commit(thread):
    for loan_id in ids:
        for n in range(commits):
            ref = f"{name}.{thread}-{n}"
            while True:
                loan = Loan(loan_id).hydrate()
                try:
                    event = loan.commit({"type": "LoanPaid", "amount": Decimal("1.00"), "ref": ref})
                except ConcurrencyError:
                    continue
                with lock:
                    print(json.dumps([loan_id, event.number, ref]), flush=True)
                break

def append(thread):
    from core.dynamodb import DynamoDBEventStore
    from core.events import Event, to_record, utc_now
    from handlers.app import App
    app = App.from_env()
    store = DynamoDBEventStore(app.table(Loan), app.dynamodb)
    for loan_id in ids:
        for number in range(4, 4 + commits):
            ref = f"{name}.{thread}-{number}"
            event = to_record(Event("LoanPaid", {"amount": Decimal("1.00"), "ref": ref}, number, utc_now()))
            try:
                store.append(loan_id, number - 1, [event], version_from_store=True)
            except ConcurrencyError:
                continue
            with lock:
                print(json.dumps([loan_id, number, ref]), flush=True)

write = commit if sys.argv[5] == "commit" else append
print("ready", flush=True)
sys.stdin.readline()
workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
"""


def open_loans(endpoint: str, count: int) -> list[str]:
    """`count` disbursed loans, committed through the library against the stack."""
    from core.dynamodb import DynamoDBEventStore
    from core.repository import Repository
    from loans import Loan

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    repository = Repository(DynamoDBEventStore(Loan.default_table(), client))
    ids = []
    for _ in range(count):
        loan = Loan(repository=repository)
        loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("1000000.00"), "interest": Decimal("0")},
                     {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
        ids.append(loan.id)
    return ids


def stored_refs(endpoint: str, loan_id: str) -> list[tuple[int, str | None]]:
    from core.dynamodb import DynamoDBEventStore
    from core.repository import Repository
    from loans import Loan

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    repository = Repository(DynamoDBEventStore(Loan.default_table(), client))
    return [(int(event.number or 0), event.data.get("ref")) for event in repository.events(loan_id)]


def race(endpoint: str, *, writers: int = 4, threads: int = 1, loans: int = 10, commits: int = 5,
         mode: str = "commit", timeout: float = 300.0) -> dict[str, Any]:
    """Race `writers` processes of `threads` threads over `loans` fresh loans; count what the log lost and what
    two writers were both told.

    `mode="commit"`: each thread commits `commits` payments per loan through `Loan.commit`, hydrating again
    after each `ConcurrencyError`. `mode="append"`: each thread tries to append event 4, 5, ... 3 + `commits`
    of each loan (`DynamoDBEventStore.append` with the version it expects), so every write is contended and
    each number must go to exactly one writer."""
    ids = open_loans(endpoint, loans)
    env = client_environment(endpoint)
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, ",".join(ids), str(commits), f"w{index}",
                                   str(threads), mode], env=env, cwd=HERE, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for index in range(writers)]
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a writer did not start: {process.communicate(timeout=30)[1][-2000:]}")
        started = time.monotonic()
        outputs = []
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            out, err = process.communicate(timeout=timeout)
            if process.returncode != 0:
                raise RuntimeError(f"a writer failed: {err[-2000:]}")
            outputs.append(out)
        seconds = time.monotonic() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    confirmed = [tuple(json.loads(line)) for out in outputs for line in out.splitlines() if line.startswith("[")]
    stored = {(loan_id, number, ref) for loan_id in ids for number, ref in stored_refs(endpoint, loan_id)}
    told = Counter((loan_id, number) for loan_id, number, _ in confirmed)
    expected = writers * threads * loans * commits if mode == "commit" else loans * commits
    return {"mode": mode, "writers": writers, "threads": threads, "loans": loans, "commits": len(confirmed),
            "lost": sum(1 for entry in confirmed if entry not in stored),
            "numbers_told_twice": sum(1 for count in told.values() if count > 1),
            "expected_commits": expected, "seconds": round(seconds, 2)}


def run_once(patched: bool, switch_interval: float = 1e-6, **kwargs: Any) -> dict[str, Any]:
    with LocalProcess(patched=patched, switch_interval=switch_interval) as stack:
        return {"moto": "patched" if patched else "as shipped", **race(stack.endpoint, **kwargs)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local_race", description=__doc__.split("\n\n")[0])
    parser.add_argument("--unpatched", action="store_true", help="moto as shipped (no handlers.local_moto)")
    parser.add_argument("--writers", type=int, default=4, help="writer processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per writer process")
    parser.add_argument("--loans", type=int, default=10)
    parser.add_argument("--commits", type=int, default=5, help="payments per thread per loan (commit mode), "
                        "events per loan (append mode)")
    parser.add_argument("--mode", choices=["commit", "append"], default="commit")
    parser.add_argument("--rounds", type=int, default=1, help="stacks started one after another")
    args = parser.parse_args(argv)
    for _ in range(args.rounds):
        print(json.dumps(run_once(not args.unpatched, writers=args.writers, threads=args.threads, loans=args.loans,
                                  commits=args.commits, mode=args.mode)), flush=True)


if __name__ == "__main__":
    main()
