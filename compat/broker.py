"""Harness that runs one real `sluice server start` process for the compat and crash tests.

It owns the process and its data directory: picks a free 127.0.0.1 port, starts the broker
with `--override listeners=... --override log.dirs=...`, waits (bounded) until the broker
answers an ApiVersions request, stops it with SIGTERM (SIGKILL after a deadline), and can
`kill -9` it and start it again on the same directory and port. It never sleeps a fixed
time: every wait polls a condition until a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO / "target" / "release" / "sluice"


def sluice_bin() -> Path:
    return Path(os.environ.get("SLUICE_BIN", str(DEFAULT_BIN)))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout: float, what: str, interval: float = 0.05):
    """Poll `cond()` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # the condition may fail while things come up
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def api_versions_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """Send ApiVersions v0 on a fresh connection; true when the broker answers error_code 0."""
    client_id = b"sluice-compat-harness"
    body = struct.pack(">hhih", 18, 0, 424242, len(client_id)) + client_id
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(body)) + body)
        head = _recv_exact(s, 4)
        (size,) = struct.unpack(">i", head)
        if size < 6 or size > 1 << 20:
            return False
        resp = _recv_exact(s, size)
        corr, err = struct.unpack(">ih", resp[:6])
        return corr == 424242 and err == 0


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


class Broker:
    """One `sluice server start` process on 127.0.0.1 with its own log.dirs."""

    def __init__(self, overrides: dict[str, str] | None = None, data_dir: Path | None = None, node_id: int = 1):
        self.node_id = node_id
        self.overrides = dict(overrides or {})
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sluice-compat-")
            data_dir = Path(self._tmp.name)
        self.root = Path(data_dir)
        self.log_dir = self.root / "data"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.out_path = self.root / "broker.out"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        props = {
            "node.id": str(self.node_id),
            "listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "log.dirs": str(self.log_dir),
        }
        props.update(self.overrides)
        cmd = [str(sluice_bin()), "server", "start"]
        for k, v in props.items():
            cmd += ["--override", f"{k}={v}"]
        return cmd

    def start(self, timeout: float = 60.0) -> "Broker":
        assert self.proc is None, "broker already running"
        binary = sluice_bin()
        if not binary.exists():
            raise FileNotFoundError(f"no broker binary at {binary}: run `cargo build --release -p sluice-cli`")
        self.starts += 1
        out = open(self.out_path, "ab")
        out.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        out.flush()
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_BACKTRACE": "1"},
            start_new_session=True,
        )
        out.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode} during startup:\n{self.output_tail()}")
            return api_versions_ok(self.host, self.port)

        try:
            wait_for(ready, timeout, f"broker on {self.bootstrap} to answer ApiVersions")
        except RuntimeError:
            self.proc = None
            raise
        except TimeoutError as exc:
            self.kill9()
            raise TimeoutError(f"{exc}\n{self.output_tail()}") from None
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM); SIGKILL if the broker has not exited by `timeout`.
        Returns the exit code, or None when it had to be killed."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            return None

    def kill9(self) -> None:
        """Crash the broker: SIGKILL, then wait until the process is gone."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)

    def restart(self, timeout: float = 60.0) -> "Broker":
        """Start again on the same log.dirs and port (after stop() or kill9())."""
        assert self.proc is None, "stop or kill the broker before restarting it"
        return self.start(timeout)

    def output_tail(self, lines: int = 60) -> str:
        """The last lines of the broker's stdout/stderr and of its log file (sluice writes
        `sluice-server.log` beside log.dirs)."""
        parts = []
        for path in (self.out_path, self.root / "sluice-server.log"):
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            tail = text.splitlines()[-lines:]
            parts.append(f"--- last {len(tail)} lines of {path} ---\n" + "\n".join(tail))
        return "\n".join(parts) or "(no broker output)"

    def partition_dir(self, topic: str, partition: int = 0) -> Path:
        return self.log_dir / f"{topic}-{partition}"

    def close(self) -> None:
        if self.proc is not None:
            self.stop()
        if self._tmp is not None and not os.environ.get("SLUICE_KEEP_DATA"):
            self._tmp.cleanup()

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


# ---- Kafka v2 record batches on disk (for the torn-segment crash test) -------------------

BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")  # baseOffset .. recordsCount (61 bytes)


def read_batches(path: Path) -> list[dict]:
    """Parse the v2 record batch headers of a segment file. Stops at the first incomplete
    batch; each dict has position, size, base_offset, last_offset, count, attributes,
    producer_id, producer_epoch, base_sequence."""
    data = Path(path).read_bytes()
    out, pos = [], 0
    while pos + 12 <= len(data):
        base_offset, batch_length = struct.unpack_from(">qi", data, pos)
        size = 12 + batch_length
        if batch_length < BATCH_HEADER.size - 12 or pos + size > len(data):
            break
        (_, _, _, magic, _, attributes, last_delta, _, _, producer_id, producer_epoch, base_sequence, count) = BATCH_HEADER.unpack_from(data, pos)
        if magic != 2:
            raise ValueError(f"{path}: batch at {pos} has magic {magic}, expected 2")
        out.append(
            {
                "position": pos,
                "size": size,
                "base_offset": base_offset,
                "last_offset": base_offset + last_delta,
                "count": count,
                "attributes": attributes,
                "producer_id": producer_id,
                "producer_epoch": producer_epoch,
                "base_sequence": base_sequence,
            }
        )
        pos += size
    return out
