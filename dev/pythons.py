"""Find a Python interpreter by version: ``pythonX.Y`` on PATH, else the newest ``X.Y.*`` pyenv holds.

pyenv puts a shim for every Python it has on PATH, and a shim of a Python that is not active exits 127,
so each candidate is asked its version before it is used.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path


def python_version(python: str) -> str:
    """``X.Y`` of the interpreter ``python``; "" when it does not run (an inactive pyenv shim exits 127)."""
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def pyenv_root() -> str:
    """Where pyenv keeps its Pythons (``$PYENV_ROOT``, else ``pyenv root``); "" without pyenv."""
    if os.environ.get("PYENV_ROOT"):
        return os.environ["PYENV_ROOT"]
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return ""
    done = subprocess.run([pyenv, "root"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def _release(path: Path) -> list[int]:
    """``[3, 12, 1]`` for ``<pyenv root>/versions/3.12.1/bin/python3.12``."""
    return [int(n) for n in re.findall(r"\d+", path.parents[1].name)]


def find_python(version: str) -> str | None:
    """An interpreter of Python ``version`` (``3.12``): ``python3.12`` on PATH, else the newest ``3.12.*``
    that pyenv holds. Each candidate is asked its version, so a shim or a misnamed binary is passed over."""
    candidates: list[str | Path | None] = [shutil.which(f"python{version}")]
    if root := pyenv_root():
        found: list[Path] = sorted(
            Path(root, "versions").glob(f"{version}.*/bin/python{version}"), key=_release, reverse=True
        )
        candidates += found
    for candidate in candidates:
        if candidate and python_version(str(candidate)) == version:
            return str(candidate)
    return None
