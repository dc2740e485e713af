"""Loading the library, the ABI check and the error hierarchy."""

import os
import re
import subprocess
import sys
import unittest

from ptutil import SRC, python_env

import provtrace
from provtrace import errors


class LoadingTest(unittest.TestCase):
    def test_library_loaded_and_versioned(self):
        self.assertTrue(os.path.exists(provtrace.library_path), provtrace.library_path)
        self.assertRegex(provtrace.library_version(), r"^\d+\.\d+\.\d+")

    def test_bad_provtrace_lib_is_an_import_error_naming_it(self):
        env = python_env(PROVTRACE_LIB="/nonexistent/libprovtrace.so")
        r = subprocess.run([sys.executable, "-c", "import provtrace"], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError", r.stderr)
        self.assertIn("/nonexistent/libprovtrace.so", r.stderr)

    def test_not_found_lists_every_path_tried(self):
        # A copy of the package outside the tree, no $PROVTRACE_LIB, and a
        # loader path that cannot have the library: every candidate fails.
        import shutil
        import tempfile
        tmp = tempfile.mkdtemp()
        try:
            shutil.copytree(os.path.join(SRC, "bindings", "python", "provtrace"),
                            os.path.join(tmp, "provtrace"),
                            ignore=shutil.ignore_patterns("__pycache__"))
            env = python_env(PYTHONPATH=tmp)
            env.pop("PROVTRACE_LIB")
            code = ("import ctypes.util, os\n"
                    "ctypes.util.find_library = lambda n: None\n"
                    "orig = ctypes.CDLL.__init__\n"
                    "def init(self, name, *a, **k):\n"
                    "    if name and 'provtrace' in name: raise OSError('refused by test')\n"
                    "    return orig(self, name, *a, **k)\n"
                    "ctypes.CDLL.__init__ = init\n"
                    "import provtrace\n")
            r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                               text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("cannot find libprovtrace", r.stderr)
            self.assertIn("libprovtrace.so.1 (refused by test)", r.stderr)
            self.assertIn("PROVTRACE_LIB", r.stderr)
        finally:
            shutil.rmtree(tmp)

    def test_abi_mismatch_is_an_import_error(self):
        # A copy of the binding that expects another ABI than the library has.
        import shutil
        import tempfile
        tmp = tempfile.mkdtemp()
        try:
            dst = os.path.join(tmp, "provtrace")
            shutil.copytree(os.path.join(SRC, "bindings", "python", "provtrace"), dst,
                            ignore=shutil.ignore_patterns("__pycache__"))
            path = os.path.join(dst, "_lib.py")
            with open(path) as f:
                text = f.read()
            self.assertIn("ABI_VERSION = 1\n", text)
            with open(path, "w") as f:
                f.write(text.replace("ABI_VERSION = 1\n", "ABI_VERSION = 99\n"))
            r = subprocess.run([sys.executable, "-c", "import provtrace"],
                               env=python_env(PYTHONPATH=tmp), capture_output=True, text=True,
                               timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("ImportError", r.stderr)
            self.assertIn("has ABI version 1, this binding needs 99", r.stderr)
        finally:
            shutil.rmtree(tmp)


class ErrorMappingTest(unittest.TestCase):
    def header_codes(self):
        with open(os.path.join(SRC, "lib", "include", "provtrace", "common.h")) as f:
            text = f.read()
        enum = text[text.index("typedef enum"):text.index("} pt_error_code;")]
        codes = dict((m.group(1), int(m.group(2)))
                     for m in re.finditer(r"\b(PT_[A-Z]+)\s*=\s*(-?\d+)", enum))
        self.assertGreater(len(codes), 10)
        return codes

    def test_every_header_code_is_mapped_with_the_c_name(self):
        from provtrace import _lib
        for name, code in self.header_codes().items():
            self.assertEqual(getattr(errors, name), code, name)
            self.assertEqual(_lib.pt_error_name(code).decode(), name)
            if code in (0, errors.PT_ITEROVER):
                continue
            e = errors.error_for_code(code, "msg")
            self.assertIsInstance(e, provtrace.ProvtraceError)
            self.assertEqual((e.code, e.name, e.message, str(e)), (code, name, "msg", "msg"))
            if code != errors.PT_ERROR:
                self.assertIsNot(type(e), provtrace.ProvtraceError, name)

    def test_hierarchy(self):
        cases = {
            errors.PT_EINVAL: (provtrace.InvalidError, ValueError),
            errors.PT_ENOTFOUND: (provtrace.NotFoundError, LookupError),
            errors.PT_ELOCKED: (provtrace.LockedError,),
            errors.PT_ECORRUPT: (provtrace.CorruptError,),
            errors.PT_EVERSION: (provtrace.VersionError,),
            errors.PT_EIO: (provtrace.StorageError, OSError),
            errors.PT_ENOSPC: (provtrace.NoSpaceError, provtrace.StorageError, OSError),
            errors.PT_ENOMEM: (provtrace.OutOfMemoryError, MemoryError),
            errors.PT_ELIMIT: (provtrace.LimitError,),
            errors.PT_ETYPE: (provtrace.WrongTypeError, TypeError),
            errors.PT_ECLOSED: (provtrace.ClosedError,),
            -999: (provtrace.ProvtraceError,),
        }
        for code, classes in cases.items():
            e = errors.error_for_code(code, "m")
            for c in classes:
                self.assertIsInstance(e, c, (code, c))
        self.assertEqual(str(errors.error_for_code(errors.PT_EIO, "disk on fire")), "disk on fire")

    def test_errors_pickle(self):
        import pickle
        e = pickle.loads(pickle.dumps(provtrace.LockedError("held by pid 1", errors.PT_ELOCKED)))
        self.assertIsInstance(e, provtrace.LockedError)
        self.assertEqual((e.code, e.message), (errors.PT_ELOCKED, "held by pid 1"))

    def test_c_message_is_carried(self):
        with self.assertRaises(provtrace.InvalidError) as cm:
            provtrace.open_run("bad name!", store=SRC)
        self.assertIn("bad name!", cm.exception.message)
        self.assertEqual(cm.exception.name, "PT_EINVAL")


if __name__ == "__main__":
    unittest.main()
