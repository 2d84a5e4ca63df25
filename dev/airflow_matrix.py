"""The version matrix: one venv per line, a line being a Python and an Airflow 3 release, each with the
dependencies of that Airflow release.

    python -m dev.airflow_matrix constraints [VERSION ...]   # rewrite constraints/airflow-VERSION.txt
    python -m dev.airflow_matrix run [LINE ...]              # install each line, run the quick tiers

A line is named by its Airflow version (``3.0.6``: on the Python running this script, CI's) or by its
Python (``python3.12``: the newest Airflow line on that Python). ``run`` alone runs them all.

``constraints`` derives each line's constraints file from the package index alone: ``uv pip compile``
of ``apache-airflow==VERSION`` with ``--exclude-newer`` set to the moment that release was published
gives the dependency versions its users got (what Airflow's own constraints file pins). The provider's
dependencies and the test tools are then resolved on top with those pins as preferences, so a pin moves
only where the provider needs a newer release; the file lists each moved pin. Rerunning it on another
day gives the same files (only the provider's own, unpinned dependencies may move).

``run`` builds ``.venv-airflow-VERSION`` (``.venv-pythonX.Y-airflow-VERSION`` for a Python line) with uv
(its cache makes a reinstall take seconds), installs Airflow and the provider under that file, runs the
quick tiers (unit, fake HF API, ``dag.test()`` of the example and test DAGs) and prints one line of
results per line. A Python line's interpreter is ``pythonX.Y`` on PATH, else the newest ``X.Y.*`` that
pyenv holds. A line that cannot be installed, has no interpreter, or whose run fails or skips anything,
fails the whole run. ``--jobs 2`` runs two lines at once (each pytest keeps one core busy).
``--main-report`` names the JUnit XML of the main venv's run: the line it already covers is reported
from it instead of being run twice.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from dev.pythons import find_python

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints"
REPORTS = ROOT / "artifacts" / "matrix"  # each line's JUnit XML, and its output when lines run side by side

# The newest patch of each Airflow 3 line, and the end of the day (UTC) its packages were published:
# the package index as it was then.
LINES = {
    "3.0.6": "2025-08-30T00:00:00Z",
    "3.1.8": "2026-03-12T00:00:00Z",
    "3.2.2": "2026-05-30T00:00:00Z",
    "3.3.2": "2026-09-18T00:00:00Z",
}
PYTHON_VERSION = "3.11"  # the Python that CI runs; the constraints files are resolved for it
# The other Pythons the package claims (its classifiers): each runs the quick tiers on the newest Airflow
# line, under that line's constraints file (what resolves for 3.11 installs there; a package that only
# those Pythons need, such as pyyaml-ft on 3.13, is left to the resolver).
PYTHONS = ("3.12", "3.13")
NEWEST = max(LINES, key=Version)
RUNNING = "{}.{}".format(*sys.version_info[:2])  # the Python of the main venv and of the Airflow lines
# What the quick tiers need to collect and run (the llama plugin imports gguf and numpy, the UI tests
# import playwright, the StatsD tests send through statsd, the chunking tests build tokenizers); the
# heavier test extras (Celery, PostgreSQL drivers, the vector store) stay in the main venv.
# The quick tiers' tools: the agent tools' hooks (sqlite, http), the lineage tests' OpenLineage provider and
# the span tests' OpenTelemetry SDK, each resolved under the line's constraints.
TEST_TOOLS = (
    "pytest",
    "gguf",
    "numpy",
    "playwright",
    "statsd",
    "tokenizers",
    "apache-airflow-providers-sqlite",
    "apache-airflow-providers-http",
    "apache-airflow-providers-openlineage",
    "opentelemetry-sdk",
)
QUICK_TIERS = "not llama and not browser and not soak and not scheduler and not scale and not vectorstore"


def uv(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uv", *args], **kwargs)


def provider_requirements() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, flags=re.MULTILINE))


def compile_pins(requirements: list[str], output: Path, *, exclude_newer: str | None = None) -> None:
    """``uv pip compile`` into ``output``; the pins already in it are kept where they still fit."""
    args = ["pip", "compile", "-", "-o", str(output), "--quiet", "--no-header", "--no-annotate"]
    args += ["--python-version", PYTHON_VERSION]
    if exclude_newer:
        args += ["--exclude-newer", exclude_newer]
    uv(*args, input="\n".join(requirements) + "\n", text=True, check=True)


def write_constraints(version: str) -> Path:
    """Write ``constraints/airflow-VERSION.txt`` and return its path."""
    published = LINES[version]
    target = CONSTRAINTS / f"airflow-{version}.txt"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "pins.txt"
        compile_pins([f"apache-airflow=={version}"], work, exclude_newer=published)
        release = pins(work.read_text())
        # Same file again: uv keeps its pins as preferences and moves only what the provider needs.
        compile_pins([f"apache-airflow=={version}", *provider_requirements(), *TEST_TOOLS], work)
        final = pins(work.read_text())
    moved = {name: old for name, old in release.items() if final.get(name) != old}
    lines = [
        f"# Airflow {version} with the dependency versions of its release (the package index as it was at",
        f"# {published}), then the provider and the quick tiers' test tools resolved on top for Python",
        f"# {PYTHON_VERSION}. Written by `python -m dev.airflow_matrix constraints {version}`; do not edit.",
    ]
    if moved:
        lines.append("# Pins moved from the release's, because what is resolved on top needs newer ones:")
        lines += [f"#   {name} {old} -> {final.get(name, '(none)')}" for name, old in sorted(moved.items())]
    lines += [f"{name}=={pin}" for name, pin in sorted(final.items(), key=lambda item: item[0].lower())]
    CONSTRAINTS.mkdir(exist_ok=True)
    target.write_text("\n".join(lines) + "\n")
    return target


def line_label(python: str, airflow: str) -> str:
    return f"python {python} / airflow {airflow}"


@dataclass(frozen=True)
class Line:
    """One line of the matrix: an Airflow release on a Python ("": the Python running this script)."""

    airflow: str
    python: str = ""

    @property
    def name(self) -> str:
        """What the command line calls it: ``3.0.6``, or ``python3.12`` for a Python line."""
        return f"python{self.python}" if self.python else self.airflow

    @property
    def slug(self) -> str:
        """``airflow-3.0.6``, ``python3.12-airflow-3.3.2``: its venv (with ``.venv-``) and its reports."""
        return f"python{self.python}-airflow-{self.airflow}" if self.python else f"airflow-{self.airflow}"

    @property
    def label(self) -> str:
        return line_label(self.python or RUNNING, self.airflow)


def all_lines() -> dict[str, Line]:
    """Every line by name: each Airflow line on CI's Python, then the newest on each other Python."""
    lines = [Line(version) for version in LINES] + [Line(NEWEST, python) for python in PYTHONS]
    return {line.name: line for line in lines}


@dataclass
class Result:
    version: str
    python: str = RUNNING
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0  # known failures, marked strict: expected, so they fail nothing
    seconds: float = 0.0
    problem: str = ""
    where: str = ""
    below_floor: str = ""  # the package does not claim this line: reported, not run

    @property
    def ok(self) -> bool:
        if self.below_floor:
            return True
        return not self.problem and not self.failed and not self.skipped and self.passed > 0

    def line(self) -> str:
        name = line_label(self.python, self.version)
        if self.below_floor:
            return f"{name}: not run, below the package's apache-airflow{self.below_floor}"
        if self.problem:
            return f"{name}: FAILED, {self.problem}"
        counts = f"{self.passed} passed"
        if self.xfailed:
            counts += f", {self.xfailed} xfailed"
        if self.failed:
            counts += f", {self.failed} failed"
        if self.skipped:
            counts += f", {self.skipped} skipped"
        return f"{name}: {counts} ({self.where}{self.seconds:.0f} s)"


def read_junit(path: Path, result: Result) -> Result:
    suites = ET.parse(path).getroot()
    for suite in suites.iter("testsuite"):
        result.seconds += float(suite.get("time", 0))
    for case in suites.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            result.failed += 1
        elif (skipped := case.find("skipped")) is not None:
            if skipped.get("type") == "pytest.xfail":
                result.xfailed += 1
            else:
                result.skipped += 1
        else:
            result.passed += 1
    return result


def airflow_requirement() -> str:
    """The provider's own ``apache-airflow`` requirement, e.g. ``>=3.1.8``."""
    for line in provider_requirements():
        requirement = Requirement(line)
        if requirement.name == "apache-airflow":
            return str(requirement.specifier)
    return ""


def run_line(line: Line, pytest_args: list[str], reports: Path, output: Any = None) -> Result:
    """Install ``line`` in its venv and run the quick tiers there; ``output``: a file for what they print."""
    result = Result(line.airflow, python=line.python or RUNNING)
    floor = airflow_requirement()
    if floor and line.airflow not in SpecifierSet(floor):
        result.below_floor = floor
        return result
    constraints = CONSTRAINTS / f"airflow-{line.airflow}.txt"
    if not constraints.exists():
        result.problem = f"no {constraints.relative_to(ROOT)} (python -m dev.airflow_matrix constraints)"
        return result
    interpreter = find_python(line.python) if line.python else sys.executable
    if interpreter is None:
        v = line.python
        result.problem = f"no Python {v} interpreter (python{v} on PATH, or pyenv's versions/{v}.*)"
        return result
    streams = {"stdout": output, "stderr": subprocess.STDOUT} if output else {}
    venv = ROOT / f".venv-{line.slug}"
    python = venv / "bin" / "python"
    started = time.monotonic()
    install = ["pip", "install", "--quiet", "--python", str(python), "-c", str(constraints)]
    steps = [
        ["venv", "--quiet", "--allow-existing", "--python", interpreter, str(venv)],
        [*install, f"apache-airflow=={line.airflow}", "-e", str(ROOT), *TEST_TOOLS],
    ]
    for step in steps:
        done = uv(*step, cwd=ROOT, **streams)
        if done.returncode:
            result.problem = f"cannot be installed (uv {step[0]} {step[1]} exited {done.returncode})"
            return result
    print(
        f"--- {line.label}: installed in {time.monotonic() - started:.0f} s",
        file=output or sys.stdout,
        flush=True,
    )
    report = reports / f"{line.slug}.xml"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV"))}
    command = [str(python), "-m", "pytest", "-m", QUICK_TIERS, "-q", f"--junitxml={report}", *pytest_args]
    done = subprocess.run(command, cwd=ROOT, env=env, **streams)
    if not report.exists():
        result.problem = f"pytest exited {done.returncode} without a report"
        return result
    result.where = "own venv, quick tiers, "
    read_junit(report, result)
    if done.returncode and result.ok:
        result.problem = f"pytest exited {done.returncode}"
    return result


def installed_airflow(python: str) -> str:
    code = "from importlib.metadata import version; print(version('apache-airflow'))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def run(args: argparse.Namespace) -> int:
    reports = REPORTS
    reports.mkdir(parents=True, exist_ok=True)
    covered: Result | None = None
    if args.main_report and Path(args.main_report).exists():
        version = installed_airflow(sys.executable)
        if version in LINES:
            covered = read_junit(Path(args.main_report), Result(version, where="main venv, every tier, "))
    known = all_lines()
    lines = [known[name] for name in args.versions] if args.versions else list(known.values())
    printing = threading.Lock()

    def one(line: Line) -> Result:
        if covered and (line.python or RUNNING, line.airflow) == (covered.python, covered.version):
            return covered
        with printing:
            print(f"--- {line.label}", flush=True)
        if args.jobs <= 1:
            return run_line(line, args.pytest_args, reports)
        # Lines running side by side would mix their output: each writes its own log, shown whole at its end.
        log = reports / f"{line.slug}.log"
        with log.open("w") as output:
            result = run_line(line, args.pytest_args, reports, output)
        with printing:
            print(f"--- {line.label}: done; what it printed (also in {log}):")
            print(log.read_text(), end="", flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, lines))
    print("\nVersion matrix:")
    for result in results:
        print(result.line())
    failed = [line_label(r.python, r.version) for r in results if not r.ok]
    passed = sum(r.passed for r in results)
    print(f"matrix: {passed} passed, {sum(r.failed for r in results)} failed")
    if failed:
        print(f"FAILED lines: {', '.join(failed)}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("constraints", help="rewrite constraints/airflow-VERSION.txt")
    write.add_argument("versions", nargs="*", metavar="VERSION")
    test = sub.add_parser("run", help="install each line and run the quick tiers")
    test.add_argument("versions", nargs="*", metavar="LINE", help="3.0.6 (an Airflow line), python3.12 ...")
    test.add_argument("--main-report", help="JUnit XML of the main venv's run, which covers its line")
    test.add_argument("--pytest-args", default="", help="extra pytest arguments, one string")
    test.add_argument("--jobs", type=int, default=1, help="lines run at once (2 on 2 cores)")
    args = parser.parse_args()
    known = list(LINES) if args.command == "constraints" else list(all_lines())
    unknown = set(args.versions) - set(known)
    if unknown:
        what = "Airflow version(s)" if args.command == "constraints" else "line(s)"
        parser.error(f"unknown {what} {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    if args.command == "constraints":
        for version in args.versions or list(LINES):
            print(write_constraints(version).relative_to(ROOT))
        return 0
    args.pytest_args = args.pytest_args.split()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
