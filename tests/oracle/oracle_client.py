"""The kubelet oracle process (tests/oracle/kubelet, built by hack/build-oracle.sh) seen from Python.

``KubeletOracle.start()`` builds the oracle if it is not cached (a cold build takes minutes),
starts one process and talks JSON lines to it: ``ask(request)`` for one answer, ``ask_many``
for a batch (written from a thread so a large batch cannot fill both pipes). Strings that may
hold arbitrary bytes travel as base64 (``*_b64`` fields); helpers below convert both ways.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-oracle.sh"


def b64(text) -> str:
    """base64 of a str (UTF-8, lone surrogates kept as surrogateescape bytes) or of bytes."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    return base64.b64encode(text).decode("ascii")


def unb64(value) -> bytes:
    return base64.b64decode(value or "")


class KubeletOracle:
    def __init__(self, binary: Path):
        self.binary = Path(binary)
        self.toolchain = (self.binary.parent / "toolchain").read_text().strip()
        fallback = self.binary.parent / "FALLBACK"
        self.fallback = fallback.read_text().strip() if fallback.exists() else None
        self._lock = threading.Lock()
        self._next = 0
        self.proc = subprocess.Popen([str(self.binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, bufsize=1 << 20)
        self.version = self.ask({"op": "version"})

    @classmethod
    def start(cls) -> "KubeletOracle":
        """Build (or find) the oracle with hack/build-oracle.sh and start it. Raises RuntimeError
        (with the build log) when it cannot be built: the oracle tests must fail, not skip."""
        binary = os.environ.get("REGISTRYLINK_ORACLE_BIN")
        if not binary:
            done = subprocess.run([str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  check=False)
            if done.returncode != 0:
                raise RuntimeError("hack/build-oracle.sh failed (rc %d):\n%s" % (done.returncode, done.stderr[-4000:]))
            binary = done.stdout.strip().splitlines()[-1]
        return cls(Path(binary))

    def _send(self, requests):
        data = b"".join(json.dumps(r, ensure_ascii=True).encode("ascii") + b"\n" for r in requests)
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the kubelet oracle exited (rc %s)" % self.proc.poll())
        answer = json.loads(line)
        if answer.get("error"):
            raise RuntimeError("the kubelet oracle could not answer: %s" % answer["error"])
        return answer

    def ask(self, request: dict) -> dict:
        return self.ask_many([request])[0]

    def ask_many(self, requests) -> list:
        requests = list(requests)
        with self._lock:
            base = self._next
            self._next += len(requests)
            numbered = [dict(r, id=base + i) for i, r in enumerate(requests)]
            writer = threading.Thread(target=self._send, args=(numbered,))
            writer.start()
            answers = [self._read() for _request in numbered]
            writer.join()
        for i, answer in enumerate(answers):
            if answer.get("id") != base + i:
                raise RuntimeError("the kubelet oracle answered out of order")
        return answers

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        self.proc.stdout.close()
