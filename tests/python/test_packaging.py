"""`pip install ./bindings/python` works offline and the installed package
finds the library (lookup order: $PROVTRACE_LIB, next to the package, in-tree
build, system)."""

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

from ptutil import BINDINGS, SRC, python_env

import provtrace

HAVE_PIP = importlib.util.find_spec("pip") is not None

USE_IT = ("import provtrace, sys, tempfile\n"
          "d = tempfile.mkdtemp()\n"
          "with provtrace.Recorder(run='r', store=d) as rec:\n"
          "    rec.param('p', {'a': [1, 2]})\n"
          "ev = list(provtrace.open_run('r', d).events(kind='param'))[0]\n"
          "assert ev['value'] == {'a': [1, 2]}, ev\n"
          "print(provtrace.__file__)\n"
          "print(provtrace.library_path)\n")


def offline_env(**extra):
    env = python_env(**extra)
    # No index at all: any attempt to download fails fast instead of hanging.
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS="", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_CACHE_DIR="1", PIP_ROOT_USER_ACTION="ignore")
    return env


@unittest.skipUnless(HAVE_PIP, "pip is not installed for this interpreter (Debian: python3-pip)")
class PackagingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pt-pkg-")
        # Build from a copy: building must not write into the source tree.
        cls.src = os.path.join(cls.tmp, "src")
        shutil.copytree(BINDINGS, cls.src, ignore=shutil.ignore_patterns("__pycache__"))
        wheels = os.path.join(cls.tmp, "wheels")
        r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels,
                            cls.src], env=offline_env(), capture_output=True, text=True,
                           timeout=300)
        if r.returncode:
            raise AssertionError("pip wheel failed:\n%s\n%s" % (r.stdout, r.stderr))
        cls.wheel = glob.glob(os.path.join(wheels, "*.whl"))[0]
        cls.site = os.path.join(cls.tmp, "site")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target",
                            cls.site, cls.wheel], env=offline_env(), capture_output=True,
                           text=True, timeout=300)
        if r.returncode:
            raise AssertionError("pip install failed:\n%s\n%s" % (r.stdout, r.stderr))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_wheel_contents(self):
        self.assertTrue(os.path.basename(self.wheel).startswith("provtrace-%s-py3-none-any"
                                                                % provtrace.__version__))
        with zipfile.ZipFile(self.wheel) as z:
            names = set(z.namelist())
            meta = z.read("provtrace-%s.dist-info/METADATA" % provtrace.__version__).decode()
            record = z.read("provtrace-%s.dist-info/RECORD" % provtrace.__version__).decode()
        for mod in ("__init__", "_lib", "_encode", "_store", "errors", "recorder", "reader"):
            self.assertIn("provtrace/%s.py" % mod, names)
            self.assertIn("provtrace/%s.py,sha256=" % mod, record)
        self.assertIn("provtrace/py.typed", names)
        self.assertIn("Name: provtrace", meta)
        self.assertIn("Version: %s" % provtrace.__version__, meta)
        self.assertFalse([n for n in names if "__pycache__" in n or n.startswith("_build")])

    def test_installed_package_uses_provtrace_lib(self):
        r = subprocess.run([sys.executable, "-c", USE_IT], env=offline_env(PYTHONPATH=self.site),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        pkg, libpath = r.stdout.split("\n")[:2]
        self.assertTrue(pkg.startswith(self.site), pkg)
        self.assertEqual(libpath, provtrace.library_path)

    def test_library_next_to_the_package_is_found(self):
        site = os.path.join(self.tmp, "site-bundled")
        shutil.copytree(self.site, site)
        shutil.copy(provtrace.library_path, os.path.join(site, "provtrace", "libprovtrace.so"))
        env = offline_env(PYTHONPATH=site)
        del env["PROVTRACE_LIB"]
        r = subprocess.run([sys.executable, "-c", USE_IT], env=env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split("\n")[1], os.path.join(site, "provtrace", "libprovtrace.so"))

    def test_in_tree_build_is_found(self):
        plain = os.path.join(SRC, "build", "lib", "libprovtrace.so")
        if not os.path.exists(plain):
            self.skipTest("no build/lib/libprovtrace.so in the source tree")
        env = offline_env(PYTHONPATH=BINDINGS)
        del env["PROVTRACE_LIB"]
        r = subprocess.run([sys.executable, "-c", USE_IT], env=env, capture_output=True,
                           text=True, timeout=60, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split("\n")[1], plain)  # build/ before build-asan/

    def test_sdist_builds_offline(self):
        out = os.path.join(self.tmp, "sdist")
        os.makedirs(out)
        code = ("import sys; sys.path.insert(0, %r)\n"
                "import ptbuild; print(ptbuild.build_sdist(%r))\n"
                % (os.path.join(self.src, "_build"), out))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        import tarfile
        with tarfile.open(os.path.join(out, r.stdout.strip())) as t:
            names = t.getnames()
        base = "provtrace-%s/" % provtrace.__version__
        for n in ("PKG-INFO", "pyproject.toml", "_build/ptbuild.py", "provtrace/__init__.py"):
            self.assertIn(base + n, names)


if __name__ == "__main__":
    unittest.main()
