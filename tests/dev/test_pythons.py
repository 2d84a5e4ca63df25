"""Finding an interpreter for a Python line (dev/pythons.py): on PATH, else under pyenv, and never a
shim that does not run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dev import pythons

if TYPE_CHECKING:
    from pathlib import Path


def interpreter(path: Path, says: str, code: int = 0) -> Path:
    """An executable that answers the version check as an interpreter would, or fails as a pyenv shim of a
    Python that is not active does (exit 127)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{says}'\nexit {code}\n")
    path.chmod(0o755)
    return path


def test_a_pythons_interpreter_is_the_one_on_path_else_the_newest_pyenv_holds(tmp_path, monkeypatch):
    bin_, root = tmp_path / "bin", tmp_path / "pyenv"
    interpreter(bin_ / "python3.12", "pyenv: python3.12: command not found", code=127)
    for release in ("3.12.1", "3.12.10", "3.12.9"):
        interpreter(root / "versions" / release / "bin" / "python3.12", "3.12")
    interpreter(root / "versions" / "3.13.0" / "bin" / "python3.13", "3.11")  # misnamed: not 3.13
    monkeypatch.setenv("PATH", str(bin_))
    monkeypatch.setenv("PYENV_ROOT", str(root))
    newest = str(root / "versions" / "3.12.10" / "bin" / "python3.12")
    assert pythons.find_python("3.12") == newest
    assert pythons.find_python("3.13") is None
    # Without PYENV_ROOT, pyenv itself says where its root is.
    monkeypatch.delenv("PYENV_ROOT")
    interpreter(bin_ / "pyenv", str(root))
    assert pythons.find_python("3.12") == newest
    # One on PATH that runs comes first.
    interpreter(bin_ / "python3.13", "3.13")
    assert pythons.find_python("3.13") == str(bin_ / "python3.13")
