"""Machine-readable output of show, claims, list and compare, read back as a script would.

All on stored runs through the in-process CLI: nothing here starts an engine.
"""

from __future__ import annotations

import importlib
import io
import json

import pandas as pd
import pytest
from conftest import cli, stored_copy, stored_run

from harness import results
from harness.analysis import claims, summaries
from harness.output import records
from harness.output.reports import pages as assembly
from harness.output.reports.data import ReportData
from harness.protocol import METRICS, MetricInfo

pytestmark = pytest.mark.fast  # pure logic: no engine, no case process


def _frame(*names: str) -> pd.DataFrame:
    df, problems = results.load_runs([stored_run(n) for n in names])
    assert not problems
    return df


def _markdown_rows(text: str) -> list[list[str]]:
    """The first markdown table in `text`: its header, then its rows (separator checked)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(lines) >= 2, text
    assert set(lines[1].replace("|", "").split()) <= {"---", "---:"}, lines[1]
    split = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return [split[0], *split[2:]]


@pytest.mark.parametrize("names", [("cpu",), ("sweep",), ("cpu", "io-w4")])
def test_show_json_carries_every_case_with_units_and_agrees_with_the_table(names):
    proc = cli("show", *(str(stored_run(n)) for n in names), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    table = summaries.case_table(_frame(*names))
    assert doc["format"] == "harness-summary" and doc["version"] == records.SUMMARY_VERSION
    assert len(doc["cases"]) == len(table)
    assert set(doc["runs"]) == set(table["run_id"])
    for name, info in doc["metrics"].items():  # units come from the catalogue
        assert info["unit"] == METRICS[name].unit and info["meaning"] == METRICS[name].description
    for case, row in zip(doc["cases"], table.itertuples(), strict=True):
        assert case["case_id"] == row.case_id and isinstance(case["params"], dict)
        assert case["wall_s"]["median"] == pytest.approx(row.median)
        assert case["wall_s"]["ci_level"] == pytest.approx(row.ci_level)
        assert set(case) >= set(records.CASE_KEYS) | {"wall_s", "speedup", "efficiency"}
        assert set(case["wall_s"]) == set(records.WALL_KEYS)
        # a key for every metric the cases table has a column for, in the catalogue's order
        metrics = [m for m in METRICS if m in case and m not in ("speedup", "efficiency")]
        assert metrics == summaries.metric_columns(table) and set(metrics) <= set(doc["metrics"])
    seq = next(c for c in doc["cases"] if c["backend"] == "sequential")
    assert seq["speedup"]["value"] == pytest.approx(1.0)
    assert any("wall intervals" in note for note in doc["notes"])


def test_show_csv_reads_with_pandas_and_matches_the_json():
    run = str(stored_run("sweep"))
    as_csv = cli("show", run, "--format", "csv")
    as_json = json.loads(cli("show", run, "--format", "json").stdout)
    assert as_csv.returncode == 0, as_csv.stderr
    frame = pd.read_csv(io.StringIO(as_csv.stdout))
    assert list(frame["case_id"]) == [c["case_id"] for c in as_json["cases"]]
    assert frame["wall_s_median"].tolist() == pytest.approx(
        [c["wall_s"]["median"] for c in as_json["cases"]]
    )
    assert [json.loads(p) for p in frame["params"]] == [c["params"] for c in as_json["cases"]]
    assert {"speedup", "speedup_ci_low", "efficiency_note", "startup_s"} <= set(frame.columns)


def test_a_failed_case_has_nulls_not_nan_and_its_status_in_every_format(tmp_path):
    """A case that timed out has no wall: JSON says null (strict JSON, no NaN), CSV leaves
    the cells empty, markdown shows '-' and names the failure under the table."""
    run = stored_copy("cpu", tmp_path / "run")
    df = pd.read_parquet(run / results.MEASUREMENTS)
    failed = df["case_id"] == "cpu/ray/w2/n=200000"
    df.loc[failed, "status"], df.loc[failed, "error"] = "timeout", "no result within 10 s"
    df[~(failed & df["metric"].isin(["wall_s", "tasks_per_s"]))].to_parquet(
        run / results.MEASUREMENTS, index=False
    )
    doc = json.loads(cli("show", str(run), "--format", "json").stdout)
    case = next(c for c in doc["cases"] if c["status"] != "ok")
    assert case["error"] == "no result within 10 s"
    assert case["wall_s"]["median"] is None and case["speedup"]["value"] is None
    assert case["wall_s"]["ci_note"] == "" and case["startup_s"] > 0  # what it did measure
    assert doc["notes"][-1] == "cpu/ray/w2/n=200000: timeout no result within 10 s"
    frame = pd.read_csv(io.StringIO(cli("show", str(run), "--format", "csv").stdout))
    row = frame[frame["status"] == "timeout"].iloc[0]
    assert pd.isna(row["wall_s_median"]) and row["error"] == "no result within 10 s"
    md = cli("show", str(run), "--format", "markdown").stdout
    header, *rows = _markdown_rows(md)
    timeout = next(r for r in rows if "timeout" in r)
    assert timeout[header.index("wall (CI)")] == "-"
    assert md.rstrip().endswith("- cpu/ray/w2/n=200000: timeout no result within 10 s")


def test_show_markdown_is_a_table_with_its_notes():
    proc = cli("show", str(stored_run("cpu")), "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    header, *rows = _markdown_rows(proc.stdout)
    assert header[:3] == ["backend", "workers", "status"] and "wall (CI)" in header
    assert len(rows) == len(summaries.case_table(_frame("cpu")))
    assert all(len(r) == len(header) for r in rows)
    assert proc.stdout.startswith("#### cpu on ")
    assert "- wall intervals (median): " in proc.stdout
    assert "93.7% (n=5 repeats, within 1 process)" in proc.stdout  # a --quick run: 1 process


def test_claims_in_every_format_agree_with_the_library():
    run = str(stored_run("cpu"))
    expected = claims.claims_table(_frame("cpu"))
    doc = json.loads(cli("claims", run, "--format", "json").stdout)
    assert [c["verdict"] for c in doc["claims"]] == list(expected["verdict"])
    assert set(doc["verdicts"]) >= set(expected["verdict"])
    assert doc["recommendations"] and doc["recommendations"][0]["scenario"] == "cpu"
    frame = pd.read_csv(io.StringIO(cli("claims", run, "--format", "csv").stdout))
    assert list(frame.loc[frame["kind"] == "claim", "aspect"]) == list(expected["aspect"])
    assert (frame["kind"] == "recommendation").sum() == len(doc["recommendations"])
    md = cli("claims", run, "--format", "markdown").stdout
    header, *rows = _markdown_rows(md)
    assert header[:2] == ["aspect", "article"] and "verdict" in header
    assert len(rows) == len(expected)
    assert "#### Recommendation per scenario" in md and "**cpu**" in md


def test_list_in_every_format():
    doc = json.loads(cli("list", "--format", "json").stdout)
    names = [s["name"] for s in doc["scenarios"]]
    assert "cpu" in names and "sequential" in [b["name"] for b in doc["backends"]]
    frame = pd.read_csv(io.StringIO(cli("list", "--format", "csv").stdout))
    assert list(frame["name"]) == names
    header, *rows = _markdown_rows(cli("list", "--format", "markdown").stdout)
    assert header == ["name", "workload", "backends", "description"] and len(rows) == len(names)


def test_compare_json_says_its_unit():
    run = str(stored_run("io-w4"))
    doc = json.loads(cli("compare", run, run, "--format", "json").stdout)
    assert doc["unit"] == "s" and doc["meaning"] == METRICS["wall_s"].description
    assert all(c["change"] == "same" for c in doc["cases"])


@pytest.mark.parametrize(
    "args",
    [("show", "RUN"), ("claims", "RUN"), ("list",), ("compare", "RUN", "RUN")],
)
def test_a_bad_format_is_one_line_naming_the_flag(args):
    run = str(stored_run("cpu"))
    proc = cli(*(run if a == "RUN" else a for a in args), "--format", "yaml")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "harness: error: --format: expected one of table, markdown, json, csv, got 'yaml'"
    ]


@pytest.mark.parametrize(
    ("median", "low", "high", "says"),
    [
        (0.964, 0.853, 1.013, "964 ms (853-1,013)"),  # an end past 999 ms: never "1.01e+03"
        (0.0472, 0.0421, 0.0497, "47.2 ms (42.1-49.7)"),
        (1.52, 1.25, 1.76, "1.52 s (1.25-1.76)"),
    ],
)
def test_intervals_read_in_the_medians_unit_without_exponents(median, low, high, says):
    from harness.units import fmt_interval, fmt_ratio

    assert fmt_interval(median, low, high) == says
    assert "e+" not in fmt_ratio(1.5, 0.9, 1234.0)


def test_seconds_and_bytes_never_read_as_exponents():
    from harness.units import fmt_bytes, fmt_seconds

    assert fmt_seconds(1234.0) == "1,234 s" and fmt_seconds(0.0123) == "12.3 ms"
    assert fmt_bytes(1010 * 2**20) == "1,010 MiB" and fmt_bytes(9.41 * 2**20) == "9.41 MiB"


def test_latest_is_the_newest_run_of_the_results_folder_given(tmp_path):
    """`latest` is looked up where `harness run --out` wrote (`--results`), not always in
    ./results; an empty folder is one line and exit code 2."""
    import shutil

    folder = tmp_path / "elsewhere"
    for name in ("io-w1", "io-w2"):  # run folders sort by name, as run ids by start time
        shutil.copytree(stored_run(name), folder / name)
    newest = json.loads((folder / "io-w2" / "run.json").read_text())["run_id"]
    proc = cli("show", "latest", "--results", str(folder), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert {c["run_id"] for c in json.loads(proc.stdout)["cases"]} == {newest}
    empty = cli("show", "latest", "--results", str(tmp_path / "none"))
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1
    assert f"no run under {tmp_path / 'none'}" in empty.stderr


def test_one_table_names_each_commands_formats_and_their_writers():
    """One row per format and kind: the commands that take it, its writer (importable), the
    extensions that name it. Each command writes one kind, and reads its choices here."""
    from harness.output import export, formats, reports

    assert formats.choices("show") == ("table", "markdown", "json", "csv")
    assert formats.choices("report") == reports.FORMATS == ("pdf", "html", "png", "svg")
    assert formats.choices("export") == export.FORMATS == ("csv", "json", "parquet", "trace")
    assert formats.choices("timeline") == ("png", "svg")
    assert formats.choices("run") == ("table", "json")  # run --json
    for row in formats.TABLE:
        module, name = row.writer.split(":")
        assert callable(getattr(importlib.import_module(module), name)), row
        assert row.folder or row.kind != "report" or row.suffixes, row  # a file has a name
    commands = {c for row in formats.TABLE for c in row.commands}
    for command in commands:
        assert len({row.kind for row in formats.of(command)}) == 1, command
        assert len(set(formats.choices(command))) == len(formats.choices(command)), command
    with pytest.raises(formats.FormatError, match="--format: expected one of pdf, html"):
        formats.get("report", "csv")
    proc = cli("report", str(stored_run("io-w1")), "--format", "csv")
    assert proc.returncode == 2 and "expected one of pdf, html, png, svg, got 'csv'" in proc.stderr


def test_help_takes_each_formats_choices_from_the_table():
    """`--format` and `--output` say what the table says, so `--help` cannot drift."""
    import typer

    from harness.cli import app
    from harness.output import formats

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for name, command in commands.items():
        options = {p.name: p for p in command.params}
        if "fmt" in options:
            assert options["fmt"].help.startswith(formats.help_text(name)), name
            for choice in formats.choices(name):
                assert f"{choice} (" in options["fmt"].help, (name, choice)
        if "output" in options:
            suffixes = {s for row in formats.of(name) for s in row.suffixes}
            assert all(s in options["output"].help for s in suffixes), name
    assert {"list", "show", "report", "compare", "ab", "export", "claims"} <= {
        n for n, c in commands.items() if any(p.name == "fmt" for p in c.params)
    }


@pytest.mark.parametrize(
    ("command", "fmt", "target", "chosen"),
    [
        ("report", None, None, "pdf"),
        ("report", None, "r.pdf", "pdf"),
        ("report", None, "R.HTM", "html"),
        ("report", None, "r", "pdf"),  # no extension: no claim, the default
        ("report", "png", "figures", "png"),  # a folder of images
        ("report", "html", None, "html"),
        ("export", None, None, "csv"),
        ("export", None, "cases.parquet", "parquet"),
        ("export", None, "cases.json", "json"),  # the first of the formats .json names
        ("export", "trace", "run.trace.json", "trace"),
        ("timeline", None, "gantt.svg", "svg"),
        ("timeline", None, "gantt", "png"),
    ],
)
def test_the_format_is_the_flag_else_the_extension_else_the_default(command, fmt, target, chosen):
    from pathlib import Path

    from harness.output import formats

    row = formats.for_output(command, fmt, None if target is None else Path(target))
    assert row.name == chosen and command in row.commands


@pytest.mark.parametrize(
    "args",
    [
        ("report", "RUN", "-o", "r.docx"),
        ("report", "RUN", "-o", "r.txt"),
        ("report", "RUN", "-o", "r.png"),  # images go to a folder: --format png -o DIR
        ("report", "RUN", "--format", "pdf", "-o", "r.html"),  # the flag and the name differ
        ("report", "RUN", "--format", "png", "-o", "r.png"),
        ("export", "RUN", "-o", "m.txt"),
        ("export", "RUN", "--format", "csv", "-o", "m.parquet"),
        ("timeline", "RUN", "--case", "w1", "-o", "gantt.gif"),
        ("timeline", "RUN", "--case", "w1", "-o", "gantt.pdf"),
    ],
)
def test_a_file_name_that_names_another_format_is_one_line_and_nothing_written(args, tmp_path):
    """The one rule for every command that writes a file: an extension that names no format
    of the command, or another than --format's, is refused before anything is read or
    drawn: one line naming --output, exit code 2, no file."""
    run = str(stored_run("timeline" if args[0] == "timeline" else "cpu"))
    args = [run if a == "RUN" else str(tmp_path / a) if "." in a else a for a in args]
    proc = cli(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("harness: error: --output: ")
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


def test_export_writes_the_format_its_file_name_names(tmp_path):
    """Without --format, `-o cases.parquet` is parquet (not csv under that name)."""
    run = str(stored_run("cpu"))
    for name, check in (
        ("cases.parquet", lambda p: pd.read_parquet(p)),
        ("cases.json", lambda p: pd.read_json(p, orient="records")),
        ("cases.csv", lambda p: pd.read_csv(p)),
    ):
        proc = cli("export", run, "--table", "cases", "-o", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
        assert len(check(tmp_path / name)) == len(summaries.case_table(_frame("cpu")))
        assert proc.stderr.rstrip().endswith(f"as {name.split('.')[1]}"), proc.stderr


def test_list_and_env_print_the_tables_output_builds():
    from harness.output import views

    listing = cli("list")
    assert listing.returncode == 0, listing.stderr
    assert "cpu" in listing.stdout and "workloads: " in listing.stdout
    assert "backends:  sequential" in listing.stdout
    fp = {
        "machine": {"hostname": "box", "cpus": {"logical": 2, "physical": None}},
        "software": {"python": "3.12"},
    }
    rows = views.env_table(fp).columns[1]._cells
    assert rows == ["box", "logical=2", "3.12"]


def test_a_metric_added_to_the_catalogue_reaches_every_cases_table(tmp_path, monkeypatch):
    """No list of metrics to edit: one the catalogue gains is a column of the cases table,
    a key of show's JSON and CSV, a column of `export --table cases` and of the report's
    table of every metric, after the catalogue's others."""
    info = MetricInfo("widgets_per_s", "1/s", "higher", "repeat", "widgets/s", "a test's rate")
    monkeypatch.setitem(METRICS, info.name, info)
    run = stored_copy("cpu", tmp_path / "run")
    df = pd.read_parquet(run / results.MEASUREMENTS)
    walls = df[df["metric"] == "wall_s"]
    widgets = walls.assign(metric=info.name, unit=info.unit, value=10 / walls["value"])
    pd.concat([df, widgets], ignore_index=True).to_parquet(run / results.MEASUREMENTS)

    table = summaries.case_table(results.load(run))
    assert summaries.metric_columns(table)[-1] == info.name
    doc = json.loads(cli("show", str(run), "--format", "json").stdout)
    assert list(doc["metrics"])[-1] == info.name and doc["metrics"][info.name]["unit"] == "1/s"
    for case in doc["cases"]:  # 5 repeats in one process: 10 / the median wall
        assert case[info.name] == pytest.approx(10 / case["wall_s"]["median"])
    shown = pd.read_csv(io.StringIO(cli("show", str(run), "--format", "csv").stdout))
    exported = pd.read_csv(io.StringIO(cli("export", str(run), "--table", "cases").stdout))
    for frame in (shown, exported):
        assert frame[info.name].tolist() == pytest.approx([c[info.name] for c in doc["cases"]])
    in_order = [c for c in exported.columns if c in summaries.case_metrics()]
    assert in_order == summaries.metric_columns(table)  # the catalogue's order
    pages = assembly.metric_table_pages(ReportData(results.load(run), [results.run_info(run)]))
    headers = [column for _, page in pages for column in page.columns]
    assert headers[-1] == "widgets/s" and "start-up" in headers and "peak PSS" in headers
