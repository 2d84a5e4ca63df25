"""The version matrix script (dev/airflow_matrix.py): what it claims, and how it fails."""

from __future__ import annotations

import subprocess
import sys
from argparse import Namespace

from packaging.requirements import Requirement
from packaging.version import Version

from dev import airflow_matrix as matrix

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6" time="12.5">
<testcase classname="t" name="a" /><testcase classname="t" name="b" />
<testcase classname="t" name="c"><failure message="boom" /></testcase>
<testcase classname="t" name="d"><error message="setup" /></testcase>
<testcase classname="t" name="e"><skipped type="pytest.skip" message="no server" /></testcase>
<testcase classname="t" name="f"><skipped type="pytest.xfail" message="known upstream bug" /></testcase>
</testsuite></testsuites>
"""


def test_the_airflow_floor_is_the_oldest_line_the_matrix_runs():
    oldest = min(matrix.LINES, key=Version)
    assert matrix.airflow_requirement() == f">={oldest}"


def test_each_line_has_a_constraints_file_that_pins_that_release():
    for version in matrix.LINES:
        pins = matrix.pins((matrix.CONSTRAINTS / f"airflow-{version}.txt").read_text())
        assert pins["apache-airflow"] == version
        # The provider's own dependencies are pinned too, so a line's run is the same on any day.
        for line in matrix.provider_requirements():
            name = Requirement(line).name
            assert name.lower().replace("_", "-") in {p.lower().replace("_", "-") for p in pins}, name


def test_a_line_that_cannot_be_installed_fails_the_run(monkeypatch, capsys):
    def refuse(*args, **kwargs):
        return subprocess.CompletedProcess(args, returncode=1)

    monkeypatch.setattr(matrix, "uv", refuse)
    args = Namespace(versions=["3.1.8"], main_report=None, pytest_args=[])
    assert matrix.run(args) == 1
    out = capsys.readouterr().out
    assert "airflow 3.1.8: FAILED, cannot be installed (uv venv --quiet exited 1)" in out
    assert "FAILED lines: 3.1.8" in out


def test_a_line_without_constraints_fails_the_run(monkeypatch, tmp_path):
    monkeypatch.setattr(matrix, "CONSTRAINTS", matrix.ROOT / "no-such-folder")
    result = matrix.run_line("3.2.2", [], tmp_path)
    assert not result.ok
    assert result.line() == (
        "airflow 3.2.2: FAILED, no no-such-folder/airflow-3.2.2.txt "
        "(python -m dev.airflow_matrix constraints)"
    )


def test_failures_skips_and_empty_runs_fail_a_line(tmp_path):
    report = tmp_path / "report.xml"
    report.write_text(JUNIT)
    result = matrix.read_junit(report, matrix.Result("3.0.6", where="own venv, "))
    assert (result.passed, result.failed, result.skipped, result.xfailed) == (2, 2, 1, 1)
    assert not result.ok
    assert result.line() == "airflow 3.0.6: 2 passed, 1 xfailed, 2 failed, 1 skipped (own venv, 12 s)"
    assert not matrix.Result("3.0.6").ok  # nothing ran
    assert matrix.Result("3.0.6", passed=5).ok
    assert matrix.Result("3.0.6", passed=5).line() == "airflow 3.0.6: 5 passed (0 s)"


def test_the_main_venvs_line_is_read_from_its_report_and_a_strict_xfail_fails_nothing(
    tmp_path, capsys, monkeypatch
):
    report = tmp_path / "main.xml"
    kept = [line for line in JUNIT.splitlines() if "<failure" not in line and "<error" not in line]
    report.write_text("\n".join(line for line in kept if "pytest.skip" not in line))
    monkeypatch.setattr(matrix, "installed_airflow", lambda python: "3.3.2")
    args = Namespace(versions=["3.3.2"], main_report=str(report), pytest_args=[])
    assert matrix.run(args) == 0
    assert "airflow 3.3.2: 2 passed, 1 xfailed (main venv, every tier, 12 s)" in capsys.readouterr().out


def test_an_unknown_line_is_refused():
    done = subprocess.run(
        [sys.executable, "-m", "dev.airflow_matrix", "run", "2.10.5"],
        capture_output=True,
        text=True,
        cwd=matrix.ROOT,
    )
    assert done.returncode == 2
    assert "unknown Airflow version(s) 2.10.5; known: 3.0.6, 3.1.8, 3.2.2, 3.3.2" in done.stderr
