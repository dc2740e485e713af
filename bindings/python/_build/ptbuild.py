"""A minimal PEP 517 / PEP 660 build backend for the pure-Python provtrace package.

Why not setuptools: pip builds in an isolated environment and would
download setuptools from an index; this backend has no requirements, so
`pip install ./bindings/python` works offline with any pip >= 19.
It builds a py3-none-any wheel of the `provtrace/` package (the library
libprovtrace.so is installed by CMake and found at import), an sdist, and
an editable wheel (a .pth file pointing at this directory).
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PKG = "provtrace"
# Fixed timestamp: the same sources give the same wheel bytes.
_DATE = (2026, 1, 1, 0, 0, 0)


def _project():
    path = os.path.join(_ROOT, "pyproject.toml")
    with open(path, "rb") as f:
        data = f.read()
    try:
        import tomllib

        return tomllib.loads(data.decode("utf-8"))["project"]
    except ImportError:  # Python < 3.11: the [project] table is simple key = "value" lines
        out, section = {}, None
        for line in data.decode("utf-8").splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[project]":
                m = re.match(r'^([A-Za-z0-9_-]+)\s*=\s*"(.*)"\s*$', line)
                if m:
                    out[m.group(1)] = m.group(2)
        return out


def _metadata():
    p = _project()
    lines = [
        "Metadata-Version: 2.1",
        "Name: %s" % p["name"],
        "Version: %s" % p["version"],
        "Summary: %s" % p.get("description", ""),
    ]
    if "requires-python" in p:
        lines.append("Requires-Python: %s" % p["requires-python"])
    if isinstance(p.get("license"), str):
        lines.append("License: %s" % p["license"])
    return p["name"], p["version"], "\n".join(lines) + "\n"


def _dist_info(name, version):
    return "%s-%s.dist-info" % (name.replace("-", "_"), version)


def _wheel_file():
    return "Wheel-Version: 1.0\nGenerator: ptbuild\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _package_files():
    base = os.path.join(_ROOT, _PKG)
    out = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith((".py", ".typed")) or fn.startswith("libprovtrace.so"):
                full = os.path.join(dirpath, fn)
                out.append((os.path.relpath(full, _ROOT).replace(os.sep, "/"), full))
    return out


def _write_wheel(wheel_directory, entries):
    """entries: list of (archive name, bytes)."""
    name, version, metadata = _metadata()
    di = _dist_info(name, version)
    entries = list(entries) + [
        (di + "/METADATA", metadata.encode()),
        (di + "/WHEEL", _wheel_file().encode()),
    ]
    record = []
    for arc, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (arc, digest, len(data)))
    record.append("%s/RECORD,," % di)
    entries.append((di + "/RECORD", ("\n".join(record) + "\n").encode()))
    wheel_name = "%s-%s-py3-none-any.whl" % (name.replace("-", "_"), version)
    path = os.path.join(wheel_directory, wheel_name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in entries:
            info = zipfile.ZipInfo(arc, date_time=_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return wheel_name


# ---- PEP 517 hooks ------------------------------------------------------------


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, metadata = _metadata()
    di = _dist_info(name, version)
    os.makedirs(os.path.join(metadata_directory, di), exist_ok=True)
    with open(os.path.join(metadata_directory, di, "METADATA"), "w") as f:
        f.write(metadata)
    with open(os.path.join(metadata_directory, di, "WHEEL"), "w") as f:
        f.write(_wheel_file())
    return di


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    entries = []
    for arc, full in _package_files():
        with open(full, "rb") as f:
            entries.append((arc, f.read()))
    return _write_wheel(wheel_directory, entries)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    pth = (_ROOT + "\n").encode()
    return _write_wheel(wheel_directory, [("_provtrace_editable.pth", pth)])


def build_sdist(sdist_directory, config_settings=None):
    name, version, metadata = _metadata()
    base = "%s-%s" % (name, version)
    fname = base + ".tar.gz"
    files = [("pyproject.toml", os.path.join(_ROOT, "pyproject.toml")),
             ("_build/ptbuild.py", os.path.abspath(__file__))]
    files += _package_files()
    with tarfile.open(os.path.join(sdist_directory, fname), "w:gz", format=tarfile.PAX_FORMAT) as t:
        def add(arc, data):
            info = tarfile.TarInfo("%s/%s" % (base, arc))
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1767225600
            t.addfile(info, io.BytesIO(data))
        add("PKG-INFO", metadata.encode())
        for arc, full in files:
            with open(full, "rb") as f:
                add(arc, f.read())
    return fname
