"""Run Python code in a fresh interpreter that imports the same fastnn as the tests.

Tests that need a clean process (fork safety, threading layers, Ctrl-C,
unpickling without the training code path) start one here.  Every run has a
timeout, so a hang fails the test instead of stalling the suite.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fastnn

#: Directory holding the ``fastnn`` package the tests import.
PACKAGE_ROOT = str(Path(fastnn.__file__).resolve().parent.parent)

#: Generous limit for a child that imports NumPy, Numba, SciPy and scikit-learn.
TIMEOUT = 120


def child_env(**extra):
    """The current environment, with ``fastnn`` importable and ``extra`` set."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + path if path else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def write_script(tmp_path, source, name="child.py"):
    path = Path(tmp_path) / name
    path.write_text(textwrap.dedent(source))
    return path


def run_script(path, *args, env=None, timeout=TIMEOUT):
    """Run ``path`` with ``args``; fail the test on timeout or a non-zero exit."""
    cmd = [sys.executable, str(path), *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              env=env if env is not None else child_env(), cwd=path.parent)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{path.name} {' '.join(map(str, args))} hung for {timeout} s;"
                    f" stderr:\n{exc.stderr}")
    if proc.returncode != 0:
        pytest.fail(f"{path.name} exited with {proc.returncode}; stderr:\n{proc.stderr}")
    return proc


def last_json(stdout):
    """The JSON object printed on the last non-empty line of ``stdout``."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "the child printed nothing"
    return json.loads(lines[-1])
