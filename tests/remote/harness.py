"""The servers remote tests need, started on 127.0.0.1 with a free port and
stopped by pid: moto's S3 server (`moto_server`) and the SigV4-checking fake
endpoint (fake_s3.py, run by the interpreter that has botocore).

As a module (Python tests):

    from harness import Moto
    with Moto() as m:          # m.endpoint = "http://127.0.0.1:PORT"
        ...                    # m.env(): AWS_* variables for a child

As a wrapper (C tests, CLI scripts):

    harness.py [--moto] [--fake] -- CMD ARGS...

starts what is asked, exports PT_TEST_S3_ENDPOINT / PT_TEST_FAKE_ENDPOINT
and test credentials, runs CMD, stops the servers, exits with CMD's code.

moto_server is found on PATH (or $MOTO_SERVER).  When it is missing the
test is skipped (exit 77, ctest's SKIP_RETURN_CODE) - except under CI=true,
where a missing server is a failure.
"""
import os, shutil, signal, socket, subprocess, sys, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


class Missing(Exception):
    pass


def missing(what):
    msg = f"{what} not found"
    if os.environ.get("CI") == "true":
        sys.stderr.write(f"FAIL: {msg} (CI=true: a server a test needs is required)\n")
        sys.exit(1)
    sys.stderr.write(f"SKIP: {msg}\n")
    sys.exit(SKIP)


def moto_server_path():
    p = os.environ.get("MOTO_SERVER") or shutil.which("moto_server")
    if not p:
        missing("moto_server (pip install 'moto[server]')")
    return p


def aws_python():
    """The interpreter moto_server runs with (it has boto3/botocore)."""
    if os.environ.get("PT_AWS_PYTHON"):
        return os.environ["PT_AWS_PYTHON"]
    p = moto_server_path()
    real = p
    # a pyenv shim is a shell script: ask pyenv for the real file
    try:
        with open(p, "rb") as f:
            first = f.readline()
        if b"bash" in first or b"/sh" in first:
            real = subprocess.run(["pyenv", "which", "moto_server"], capture_output=True, text=True,
                                  check=True).stdout.strip()
        with open(real, "rb") as f:
            first = f.readline().decode().strip()
        if first.startswith("#!"):
            return first[2:].split()[0]
    except (OSError, subprocess.CalledProcessError):
        pass
    missing("a Python interpreter with botocore (the one moto_server uses)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait_http(url, proc, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} at start")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer on {url} within {timeout}s")


def _stop(proc):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class Moto:
    """moto_server on 127.0.0.1:<free port>, stopped by pid."""

    def __init__(self):
        self.proc = None
        self.endpoint = None

    def start(self):
        exe = moto_server_path()
        port = free_port()
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.endpoint = f"http://127.0.0.1:{port}"
        _wait_http(self.endpoint + "/moto-api/", self.proc, "moto_server")
        return self

    def stop(self):
        _stop(self.proc)

    def env(self):
        e = dict(TEST_ENV)
        e["PT_TEST_S3_ENDPOINT"] = self.endpoint
        e["AWS_ENDPOINT_URL"] = self.endpoint
        return e

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


class Fake:
    """fake_s3.py (botocore's signer checks each request) on a free port."""

    def __init__(self):
        self.proc = None
        self.endpoint = None

    def start(self):
        py = aws_python()
        env = dict(os.environ)
        env.setdefault("PT_TEST_FAKE_KEYS", "testing:testing,AKIDTOKEN:sekrit/with+chars:tok=en/1")
        self.proc = subprocess.Popen([py, os.path.join(HERE, "fake_s3.py")], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env)
        line = self.proc.stdout.readline().decode().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError("fake_s3.py did not start (is botocore installed for " + py + "?)")
        self.endpoint = f"http://127.0.0.1:{line}"
        return self

    def stop(self):
        _stop(self.proc)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


def main(argv):
    want_moto = want_fake = False
    while argv and argv[0] != "--":
        if argv[0] == "--moto":
            want_moto = True
        elif argv[0] == "--fake":
            want_fake = True
        else:
            sys.stderr.write(f"harness.py: unknown option {argv[0]}\n")
            return 2
        argv = argv[1:]
    cmd = argv[1:]
    if not cmd:
        sys.stderr.write("usage: harness.py [--moto] [--fake] -- CMD ARGS...\n")
        return 2
    servers = []
    env = dict(os.environ)
    env.update(TEST_ENV)
    try:
        if want_moto:
            m = Moto().start()
            servers.append(m)
            env.update(m.env())
        if want_fake:
            f = Fake().start()
            servers.append(f)
            env["PT_TEST_FAKE_ENDPOINT"] = f.endpoint
        return subprocess.call(cmd, env=env)
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
