"""Every function of the template loads the same modules (`AWS_ES_MODULES`), and is told the deployed name of
every table its role lets it use, under the variable the App's settings read for that table (`LoanSummary`
-> `LOAN_SUMMARY_TABLE`): a table the stack names but the function is not told of would be looked for under its
declared name, which does not exist on AWS."""

from __future__ import annotations

import re

from tests.iam_support import principals
from tests.template_support import deployed, resources


def variable(logical_id: str) -> str:
    """The environment variable for a table resource `LoanSummaryTable`: `LOAN_SUMMARY_TABLE`."""
    declared = logical_id.removesuffix("Table")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", declared).upper() + "_TABLE"


def test_variable_names_follow_the_override_rule() -> None:
    assert [variable(name) for name in ("LoansTable", "LoanSummaryTable", "ProjectionControlTable")] == [
        "LOANS_TABLE", "LOAN_SUMMARY_TABLE", "PROJECTION_CONTROL_TABLE"]


def test_every_function_loads_the_modules_and_is_told_each_table_it_may_use() -> None:
    output = deployed()
    tables = set(resources(output, "AWS::DynamoDB::Table"))
    functions = resources(output, "AWS::Lambda::Function")
    checked = 0
    for name, permissions in principals(output).items():
        if name not in functions:
            continue
        environment = functions[name]["Properties"]["Environment"]["Variables"]
        assert environment.get("AWS_ES_MODULES") == "loans", name
        used = {table for table in tables for _, _, resource in permissions
                if resource.startswith(f"{table}.") or "${" + table + "}" in resource}
        for table in used:
            assert environment.get(variable(table)) == {"Ref": table}, (name, table, variable(table))
        checked += bool(used)
    assert checked == len(functions) == 4
