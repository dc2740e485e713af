"""Shared helpers of the Python binding tests (not a test module)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
BINDINGS = os.path.join(SRC, "bindings", "python")
if BINDINGS not in sys.path:
    sys.path.insert(0, BINDINGS)

import provtrace  # noqa: E402


class StoreTest(unittest.TestCase):
    """Each test gets a fresh temporary directory and a store path in it."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pt-py-")
        self.store = os.path.join(self.tmp, "store")
        # A store found by discovery must never be the developer's own.
        self._old_env = os.environ.pop("PROVTRACE_STORE", None)

    def tearDown(self):
        if self._old_env is not None:
            os.environ["PROVTRACE_STORE"] = self._old_env
        shutil.rmtree(self.tmp, ignore_errors=True)

    def read_all(self, run, **kw):
        return list(provtrace.open_run(run, store=self.store).events(**kw))

    def user_events(self, run, **kw):
        """Events other than the ones the recorder writes by itself."""
        return [e for e in self.read_all(run, **kw)
                if e["kind"] not in ("run_start", "run_end", "code", "env", "recovery")]


def python_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = BINDINGS + os.pathsep + env.get("PYTHONPATH", "")
    env["PROVTRACE_LIB"] = provtrace.library_path
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PROVTRACE_STORE", None)
    env.update(extra)
    return env


def run_python(code, timeout=60, **kw):
    """Run ``code`` in a fresh interpreter with the binding importable."""
    return subprocess.run([sys.executable, "-c", code], env=python_env(), capture_output=True,
                          text=True, timeout=timeout, **kw)


def spawn_python(code, **kw):
    return subprocess.Popen([sys.executable, "-c", code], env=python_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True, **kw)
