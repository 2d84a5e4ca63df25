"""The version matrix script (dev/airflow_matrix.py): what it claims, and how it fails."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import tomllib
from argparse import Namespace

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
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
    args = Namespace(versions=["3.1.8"], main_report=None, pytest_args=[], jobs=1)
    assert matrix.run(args) == 1
    out = capsys.readouterr().out
    line = f"python {matrix.RUNNING} / airflow 3.1.8"
    assert f"{line}: FAILED, cannot be installed (uv venv --quiet exited 1)" in out
    assert f"FAILED lines: {line}" in out


def test_a_line_without_constraints_fails_the_run(monkeypatch, tmp_path):
    monkeypatch.setattr(matrix, "CONSTRAINTS", matrix.ROOT / "no-such-folder")
    result = matrix.run_line(matrix.Line("3.2.2"), [], tmp_path)
    assert not result.ok
    assert result.line() == (
        f"python {matrix.RUNNING} / airflow 3.2.2: FAILED, no no-such-folder/airflow-3.2.2.txt "
        "(python -m dev.airflow_matrix constraints)"
    )


def test_failures_skips_and_empty_runs_fail_a_line(tmp_path):
    report = tmp_path / "report.xml"
    report.write_text(JUNIT)
    result = matrix.read_junit(report, matrix.Result("3.0.6", python="3.11", where="own venv, "))
    assert (result.passed, result.failed, result.skipped, result.xfailed) == (2, 2, 1, 1)
    assert not result.ok
    assert result.line() == (
        "python 3.11 / airflow 3.0.6: 2 passed, 1 xfailed, 2 failed, 1 skipped (own venv, 12 s)"
    )
    assert not matrix.Result("3.0.6").ok  # nothing ran
    assert matrix.Result("3.0.6", passed=5).ok
    assert matrix.Result("3.3.2", "3.13", passed=5).line() == "python 3.13 / airflow 3.3.2: 5 passed (0 s)"


def test_the_main_venvs_line_is_read_from_its_report_and_a_strict_xfail_fails_nothing(
    tmp_path, capsys, monkeypatch
):
    report = tmp_path / "main.xml"
    kept = [line for line in JUNIT.splitlines() if "<failure" not in line and "<error" not in line]
    report.write_text("\n".join(line for line in kept if "pytest.skip" not in line))
    monkeypatch.setattr(matrix, "installed_airflow", lambda python: "3.3.2")
    args = Namespace(versions=["3.3.2"], main_report=str(report), pytest_args=[], jobs=1)
    assert matrix.run(args) == 0
    assert (
        f"python {matrix.RUNNING} / airflow 3.3.2: 2 passed, 1 xfailed (main venv, every tier, 12 s)"
        in capsys.readouterr().out
    )


def test_an_unknown_line_is_refused():
    done = subprocess.run(
        [sys.executable, "-m", "dev.airflow_matrix", "run", "2.10.5"],
        capture_output=True,
        text=True,
        cwd=matrix.ROOT,
    )
    assert done.returncode == 2
    known = "3.0.6, 3.1.8, 3.2.2, 3.3.2, python3.12, python3.13"
    assert f"unknown line(s) 2.10.5; known: {known}" in done.stderr


def test_the_package_claims_the_pythons_the_matrix_runs_and_no_other():
    with (matrix.ROOT / "pyproject.toml").open("rb") as f:
        pyproject = tomllib.load(f)
    tested = {matrix.PYTHON_VERSION, *matrix.PYTHONS}
    classifiers = pyproject["project"]["classifiers"]
    claimed = {c.rpartition(" :: ")[2] for c in classifiers if re.fullmatch(r".*:: Python :: 3\.\d+", c)}
    assert claimed == tested
    allowed = SpecifierSet(pyproject["project"]["requires-python"])
    assert {f"3.{minor}" for minor in range(6, 20) if f"3.{minor}" in allowed} == tested
    # The linters check against the oldest of them, so nothing newer slips into the code.
    oldest = min(tested, key=Version)
    assert pyproject["tool"]["mypy"]["python_version"] == oldest
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + oldest.replace(".", "")


def test_a_python_line_without_its_interpreter_fails_the_run(tmp_path, monkeypatch, capsys):
    def no_install(*args, **kwargs):
        raise AssertionError(f"uv {args} ran without an interpreter")

    monkeypatch.setenv("PATH", str(tmp_path))  # neither python3.13 nor pyenv
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    monkeypatch.setattr(matrix, "uv", no_install)
    monkeypatch.setattr(matrix, "REPORTS", tmp_path)
    args = Namespace(versions=["python3.13"], main_report=None, pytest_args=[], jobs=1)
    assert matrix.run(args) == 1
    out = capsys.readouterr().out
    line = f"python 3.13 / airflow {matrix.NEWEST}"
    assert (
        f"{line}: FAILED, no Python 3.13 interpreter (python3.13 on PATH, or pyenv's versions/3.13.*)" in out
    )
    assert f"FAILED lines: {line}" in out


def test_a_python_line_installs_the_newest_airflow_line_in_a_venv_of_its_own(tmp_path, monkeypatch):
    calls = []

    def install_fails(*args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, returncode=1 if args[0] == "pip" else 0)

    monkeypatch.setattr(matrix, "find_python", lambda version: f"found-python{version}")
    monkeypatch.setattr(matrix, "uv", install_fails)
    result = matrix.run_line(matrix.all_lines()["python3.12"], [], tmp_path)
    assert result.line() == (
        f"python 3.12 / airflow {matrix.NEWEST}: FAILED, cannot be installed (uv pip install exited 1)"
    )
    venv = matrix.ROOT / f".venv-python3.12-airflow-{matrix.NEWEST}"
    assert calls[0] == ("venv", "--quiet", "--allow-existing", "--python", "found-python3.12", str(venv))
    constraints = str(matrix.CONSTRAINTS / f"airflow-{matrix.NEWEST}.txt")
    assert calls[1][:7] == (
        "pip",
        "install",
        "--quiet",
        "--python",
        str(venv / "bin" / "python"),
        "-c",
        constraints,
    )
    assert f"apache-airflow=={matrix.NEWEST}" in calls[1]
    assert max(matrix.LINES, key=Version) == matrix.NEWEST


def test_two_jobs_run_two_lines_at_once_and_report_them_in_the_order_asked(tmp_path, monkeypatch, capsys):
    side_by_side = threading.Barrier(
        2, timeout=10
    )  # broken, failing the test, unless both lines wait at once

    def run_line(line, pytest_args, reports, output=None):
        print(f"what {line.name} printed", file=output)
        side_by_side.wait()
        return matrix.Result(line.airflow, line.python or matrix.RUNNING, passed=3)

    monkeypatch.setattr(matrix, "run_line", run_line)
    monkeypatch.setattr(matrix, "REPORTS", tmp_path)
    args = Namespace(versions=["python3.13", "3.0.6"], main_report=None, pytest_args=[], jobs=2)
    assert matrix.run(args) == 0
    out = capsys.readouterr().out
    assert "what python3.13 printed" in out  # each line's own output, shown when it ends
    assert "what 3.0.6 printed" in out
    summary = out.partition("Version matrix:\n")[2].splitlines()
    assert summary == [
        f"python 3.13 / airflow {matrix.NEWEST}: 3 passed (0 s)",
        f"python {matrix.RUNNING} / airflow 3.0.6: 3 passed (0 s)",
        "matrix: 6 passed, 0 failed",
    ]
