"""Recorder.dataset, hash_dataset, verify_datasets: manifests of files and
arrays with one content id (computed here independently with hashlib),
stored contents, the datasets in effect in replay, `provtrace data` and
`provtrace data verify`, and the failure paths (nothing recorded)."""

import hashlib
import json
import os
import subprocess
import unittest

import numpy as np

from ptutil import StoreTest

import provtrace
from provtrace.replay import checkpoint_in_effect
from provtrace._store import open_store

BIN = os.environ.get("PROVTRACE_BIN")
try:
    import torch
except ImportError:  # the package works without torch
    torch = None


def listing_id(entries):
    """FORMAT.md: SHA-256 of `<sha256> <size> <path>\\n` lines sorted by path (bytes)."""
    lines = sorted((p.encode(), hashlib.sha256(c).hexdigest(), len(c)) for p, c in entries.items())
    text = b"".join(b"%s %d %s\n" % (h.encode(), n, p) for p, h, n in lines)
    return hashlib.sha256(text).hexdigest()


class DatasetTest(StoreTest):
    def make_tree(self, files):
        root = os.path.join(self.tmp, "data")
        for rel, content in files.items():
            p = os.path.join(root, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(content)
        return root

    def cli(self, *args):
        return subprocess.run([BIN, *args, "--store", self.store], capture_output=True, text=True)

    FILES = {"train/a.csv": b"x,y\n1,2\n", "train/b.csv": b"x,y\n3,4\n", "labels.txt": b"cat\ndog\n",
             "empty": b""}

    def test_directory_manifest_and_content_id(self):
        root = self.make_tree(self.FILES)
        want = listing_id(self.FILES)
        h = provtrace.hash_dataset(root)
        self.assertEqual(h["id"], want)
        self.assertEqual(h["files"], 4)
        self.assertEqual(h["root"], os.path.realpath(root))
        self.assertEqual([e["path"] for e in h["entries"]], sorted(self.FILES))
        self.assertEqual({e["path"]: e["sha256"] for e in h["entries"]},
                         {p: hashlib.sha256(c).hexdigest() for p, c in self.FILES.items()})
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(1, {"w": np.arange(4.0)}, wait=True)
            d = rec.dataset("corpus", root, step=2, threads=2)
            self.assertEqual(d["id"], want)
            self.assertEqual((d["files"], d["size"], d["role"]), (4, sum(map(len, self.FILES.values())), "train"))
            self.assertFalse(d["stored"])
            self.assertIsNone(d["content"])
        ev = [e for e in self.user_events("r") if e["kind"] == "dataset"]
        self.assertEqual(len(ev), 1)
        self.assertEqual((ev[0]["name"], ev[0]["id"], ev[0]["step"], ev[0]["source"]), ("corpus", want, 2, "files"))
        self.assertEqual(ev[0]["objects"], [want])
        # not the checkpoint in effect; replay shows the dataset in effect
        ck = checkpoint_in_effect(open_store(self.store), "r", "main", None, None)
        self.assertEqual(ck.step, 1)
        st = provtrace.open_run("r", store=self.store).state_at(latest=True)
        self.assertEqual(st.datasets["corpus"]["id"], want)
        self.assertEqual(st.datasets["corpus"]["files"], 4)

    def test_arrays_and_tensors_hashed_by_content(self):
        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        y = np.array([1, 0, 1], dtype=np.int64)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            a = rec.dataset("xy", {"x": x, "y": y}, role="eval")
            b = rec.dataset("xy-again", {"x": x.copy(), "y": y.copy()})
            c = rec.dataset("fortran", {"x": np.asfortranarray(x), "y": y})
            d = rec.dataset("list", [x, b"raw bytes"])
        want = listing_id({"x": x.tobytes(), "y": y.tobytes()})
        self.assertEqual(a["id"], want)
        self.assertEqual(b["id"], want)
        self.assertEqual(c["id"], want)  # C order whatever the layout
        self.assertEqual(d["id"], listing_id({"0": x.tobytes(), "1": b"raw bytes"}))
        self.assertIsNone(a["root"])
        self.assertEqual(a["role"], "eval")
        v = provtrace.verify_datasets("r", store=self.store)
        self.assertEqual(v["skipped"], 4)
        self.assertTrue(v["ok"])

    @unittest.skipUnless(torch is not None, "torch is not installed")
    def test_torch_tensors_every_dtype(self):
        t = {"f": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),  # not contiguous
             "bf": torch.arange(5, dtype=torch.bfloat16), "b": torch.tensor([True, False])}
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            a = rec.dataset("t", t, store=True)
        want = listing_id({"f": t["f"].contiguous().numpy().tobytes(),
                           "bf": t["bf"].view(torch.int16).numpy().tobytes(),
                           "b": t["b"].numpy().tobytes()})
        self.assertEqual(a["id"], want)
        self.assertTrue(a["content"])

    def test_store_true_contents_deduplicated_and_kept(self):
        files = {"a.bin": os.urandom(300000), "b.bin": os.urandom(2 << 20)}
        files["copy-of-b.bin"] = files["b.bin"]
        root = self.make_tree(files)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            d = rec.dataset("blobs", root, store=True)
        self.assertEqual(len(d["content"]), 64)
        ck = provtrace.Checkpoint(open_store(self.store), d["content"])
        back = ck.load()
        self.assertEqual(bytes(back["b.bin"]), files["b.bin"])
        self.assertEqual(bytes(back["copy-of-b.bin"]), files["b.bin"])

    def test_failures_record_nothing(self):
        root = self.make_tree(self.FILES)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            with self.assertRaisesRegex(provtrace.NotFoundError, "gone"):
                rec.dataset("x", os.path.join(self.tmp, "gone"))
            with self.assertRaisesRegex(TypeError, "not both"):
                rec.dataset("x", [root, np.zeros(3)])
            with self.assertRaises(TypeError):
                rec.dataset("x", 42)
            with self.assertRaises(TypeError):
                rec.dataset("x", {1: np.zeros(3)})
            with self.assertRaises(TypeError):
                rec.dataset("x", np.array([object()]))
            with self.assertRaises(ValueError):
                rec.dataset("x", [])
            with self.assertRaises(TypeError):
                rec.dataset(7, root)
            with self.assertRaises(ValueError):
                rec.dataset("x", root, threads=-1)
            os.mkdir(os.path.join(self.tmp, "void"))
            with self.assertRaisesRegex(provtrace.InvalidError, "no file"):
                rec.dataset("x", os.path.join(self.tmp, "void"))
            os.symlink("/nonexistent/pt", os.path.join(root, "dangling"))
            with self.assertRaisesRegex(provtrace.ProvtraceError, "dangling"):
                rec.dataset("x", root)
            with self.assertRaisesRegex(provtrace.InvalidError, "reserved"):
                rec.event("dataset", "fake", id="0" * 64, source="files", objects=["0" * 64])
        self.assertEqual([e for e in self.user_events("r") if e["kind"] == "dataset"], [])

    def test_verify_names_changed_and_missing_files(self):
        root = self.make_tree(self.FILES)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.dataset("corpus", root)
        v = provtrace.verify_datasets("r", store=self.store)
        self.assertTrue(v["ok"])
        self.assertEqual((v["datasets"], v["files"], v["ok"]), (1, 4, True))
        with open(os.path.join(root, "train/a.csv"), "ab") as f:
            f.write(b"5,6\n")
        os.remove(os.path.join(root, "labels.txt"))
        v = provtrace.verify_datasets("r", store=self.store)
        self.assertFalse(v["ok"])
        self.assertEqual((v["changed"], v["missing"]), (1, 1))
        probs = {p["path"]: p for p in v["problems"]}
        self.assertEqual(probs["train/a.csv"]["status"], "changed")
        self.assertEqual(probs["train/a.csv"]["found_size"], len(self.FILES["train/a.csv"]) + 4)
        self.assertEqual(probs["labels.txt"]["status"], "missing")
        self.assertIn("No such file", probs["labels.txt"]["message"])
        # the same files elsewhere, checked with root=
        other = os.path.join(self.tmp, "moved")
        os.rename(root, other)
        with open(os.path.join(other, "train/a.csv"), "wb") as f:
            f.write(self.FILES["train/a.csv"])
        with open(os.path.join(other, "labels.txt"), "wb") as f:
            f.write(self.FILES["labels.txt"])
        self.assertTrue(provtrace.verify_datasets("r", store=self.store, root=other)["ok"])
        self.assertEqual(provtrace.verify_datasets("r", store=self.store)["missing"], 4)
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.verify_datasets("nope", store=self.store)

    @unittest.skipUnless(BIN, "PROVTRACE_BIN not set")
    def test_cli_data_lists_and_verifies(self):
        root = self.make_tree(self.FILES)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            d = rec.dataset("corpus", root, step=3)
            rec.artifact("notes", b"hello")
        out = self.cli("data", "--run", "r")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("corpus", out.stdout)
        self.assertIn(d["id"], out.stdout)
        self.assertIn("notes", out.stdout)
        js = self.cli("data", "--run", "r", "--json")
        rows = [json.loads(line) for line in js.stdout.splitlines()]
        self.assertEqual(sorted(r["kind"] for r in rows), ["artifact", "dataset"])
        ok = self.cli("data", "verify", "--run", "r")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertIn("4 files", ok.stdout)
        # data hash: the same id without recording; its listing hashes to the id
        h = self.cli("data", "hash", root)
        self.assertEqual(h.returncode, 0, h.stderr)
        lines = h.stdout.splitlines()
        self.assertEqual(lines[-1].split()[1], d["id"])
        listing = "".join(ln + "\n" for ln in lines[:-1]).encode()
        self.assertEqual(hashlib.sha256(listing).hexdigest(), listing_id(self.FILES))
        hj = json.loads(self.cli("data", "hash", "--json", "--threads", "1", root).stdout)
        self.assertEqual((hj["id"], hj["files"]), (d["id"], 4))
        self.assertEqual(hj["root"], os.path.realpath(root))
        self.assertEqual(self.cli("data", "hash").returncode, 2)
        self.assertEqual(self.cli("data", "hash", os.path.join(self.tmp, "nope")).returncode, 1)
        os.remove(os.path.join(root, "train/b.csv"))
        with open(os.path.join(root, "empty"), "wb") as f:
            f.write(b"now something")
        bad = self.cli("data", "verify", "--run", "r")
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn("train/b.csv", bad.stdout)
        self.assertIn("missing", bad.stdout)
        self.assertIn("empty", bad.stdout)
        self.assertIn("changed", bad.stdout)
        bj = self.cli("data", "verify", "--run", "r", "--json")
        self.assertEqual(bj.returncode, 1)
        lines = [json.loads(line) for line in bj.stdout.splitlines()]
        self.assertEqual(sorted((x["path"], x["status"]) for x in lines if "path" in x),
                         [("empty", "changed"), ("train/b.csv", "missing")])
        summary = [x for x in lines if "path" not in x][-1]
        self.assertEqual((summary["files"], summary["changed"], summary["missing"]), (4, 1, 1))
        moved = self.cli("data", "verify", "--run", "r", "--root", os.path.join(self.tmp, "nowhere"))
        self.assertEqual(moved.returncode, 1)
        self.assertEqual(self.cli("data", "verify", "--run", "nope").returncode, 1)
        self.assertEqual(self.cli("data", "verify", "--bogus").returncode, 2)
        rp = self.cli("replay", "--run", "r")
        self.assertEqual(rp.returncode, 0, rp.stderr)
        self.assertIn("datasets", rp.stdout)
        self.assertIn(d["id"][:12], rp.stdout)


if __name__ == "__main__":
    unittest.main()
