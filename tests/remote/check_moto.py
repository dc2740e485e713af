"""The harness itself: moto_server answers on the endpoint harness.py exported,
and it is stopped (by pid) when the wrapped command ends (checked by the
caller: the port is closed afterwards)."""
import os, sys, urllib.request

ep = os.environ.get("PT_TEST_S3_ENDPOINT")
if not ep or not ep.startswith("http://127.0.0.1:"):
    sys.exit(f"PT_TEST_S3_ENDPOINT not a loopback endpoint: {ep!r}")
# an unsigned bucket listing: moto answers with S3's XML
body = urllib.request.urlopen(ep + "/", timeout=10).read()
if b"ListAllMyBucketsResult" not in body:
    sys.exit(f"moto_server did not answer like S3: {body[:200]!r}")
print(ep)
