"""A loopback endpoint that checks every request's SigV4 signature with
botocore's signer and answers as scripted by the path (tests/remote/test_http.c).

Run with an interpreter that has botocore (the one moto_server uses); the
harness (harness.py --fake) starts it and passes its port in PT_TEST_FAKE_ENDPOINT.

  /sig/...            200 "ok <sha256 of the body>" when the signature is botocore's
  /flaky/<n>/...      503 SlowDown for the first <n> requests to that path, then 200
  /throttle/...       400 ThrottlingException always
  /announce-huge      Content-Length: 1 TB, a few bytes, then the connection closes
  /lying-short        Content-Length: 100, 10 bytes, then the connection closes
  /endless            a chunked body that never ends (64 KiB chunks)
  /slow               sleeps 5 s before answering
  /stats              JSON: connections accepted so far
A request whose signature is not botocore's gets 403 with both canonical requests.
"""
import hashlib, http.server, json, os, socket, socketserver, sys, threading, time
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SECRETS = {}  # access key -> (secret, token) given in PT_TEST_FAKE_KEYS "ak:sk[:token],..."
for item in os.environ.get("PT_TEST_FAKE_KEYS", "testing:testing").split(","):
    parts = item.split(":")
    SECRETS[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else None)

state = {"connections": 0, "flaky": {}}
lock = threading.Lock()


def check_signature(method, raw_path, headers, body):
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no SigV4 Authorization header"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    cred = fields["Credential"].split("/")
    ak, date, region, service = cred[0], cred[1], cred[2], cred[3]
    if ak not in SECRETS:
        return "unknown access key"
    sk, token = SECRETS[ak]
    signed = fields["SignedHeaders"].split(";")
    amz_date = headers.get("x-amz-date")
    if not amz_date or not amz_date.startswith(date):
        return "x-amz-date missing or not the credential's date"
    sha = headers.get("x-amz-content-sha256")
    if sha != hashlib.sha256(body).hexdigest():
        return f"x-amz-content-sha256 {sha!r} is not the body's SHA-256"
    if token is not None and headers.get("x-amz-security-token") != token:
        return "x-amz-security-token missing or wrong"
    # the request as botocore would have built it: the headers it signs
    req_headers = {}
    for name in signed:
        if name == "host":
            continue
        if headers.get(name) is None:
            return f"signed header {name} not sent"
        req_headers[name] = headers.get(name)
    host = headers.get("Host")
    url = f"http://{host}{raw_path}"
    req = AWSRequest(method=method, url=url, headers=req_headers, data=body)
    req.context["timestamp"] = amz_date
    signer_cls = S3SigV4Auth if service == "s3" else SigV4Auth
    signer = signer_cls(Credentials(ak, sk, token), service, region)
    signer._modify_request_before_signing(req)
    expect_headers = signer.signed_headers(signer.headers_to_sign(req))
    if expect_headers != fields["SignedHeaders"]:
        return f"SignedHeaders {fields['SignedHeaders']} but botocore signs {expect_headers}"
    cr = signer.canonical_request(req)
    sts = signer.string_to_sign(req, cr)
    sig = signer.signature(sts, req)
    if sig != fields["Signature"]:
        return f"signature differs from botocore's; botocore's canonical request:\n{cr}"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with lock:
            state["connections"] += 1

    def log_message(self, *a):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, code, body=b"", ctype="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"' + hashlib.md5(body).hexdigest() + '"')
        self.send_header("x-amz-request-id", "FAKE0001")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        body = self._body()
        path = self.path
        if path == "/stats":
            with lock:
                return self._send(200, json.dumps(state["connections"]).encode())
        err = check_signature(self.command, path, self.headers, body)
        if err:
            return self._send(403, ("SignatureDoesNotMatch: " + err).encode())
        p = urlsplit(path).path
        if p.startswith("/flaky/"):
            n = int(p.split("/")[2])
            with lock:
                seen = state["flaky"].get(p, 0)
                state["flaky"][p] = seen + 1
            if seen < n:
                return self._send(503, b"<Error><Code>SlowDown</Code></Error>", "application/xml")
        elif p.startswith("/throttle/"):
            return self._send(400, b'{"__type":"ThrottlingException"}', "application/json")
        elif p == "/announce-huge":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.close_connection = True
            return
        elif p == "/lying-short":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.close_connection = True
            return
        elif p == "/endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 65536
            try:
                for _ in range(100000):
                    self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return
        elif p == "/slow":
            time.sleep(5)
        rng = self.headers.get("Range")
        msg = b"ok " + hashlib.sha256(body).hexdigest().encode()
        if rng:
            msg += b" " + rng.encode()
        tgt = self.headers.get("X-Amz-Target")
        if tgt:
            msg += b" " + tgt.encode()
        return self._send(200, msg)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
