"""Run a submission in a separate, confined process and talk to it through two pipes (instructor side).

Isolation, strongest available first (``ISOLATION`` or the ``COURSEWORK_ISOLATION`` environment variable):

- ``bwrap`` (Debian's ``bubblewrap``): new PID, network, IPC and UTS namespaces and a file-system view holding only
  the Python installation, the course's ``utils`` and a fresh folder with the submission — no network, no instructor
  files, no other submissions; every process dies with the sandbox.
- ``unshare`` (util-linux): new PID and network namespaces (no network; every process dies with the sandbox) but the
  host's file system, so instructor files are hidden only by their permissions (keep the repository ``chmod 700``).
- ``none``: a plain child process in its own session. Only the limits below, the minimal environment and, when the
  grader runs as root, the unprivileged user apply.

Always: a fresh temporary folder as working directory, an environment with nothing from the grader's, rlimits on CPU
time, address space, file size, open files and processes, and — when the grader runs as root — a user id of its own
(``60000 + random``) with no groups, so the student's code can neither write the grader's files nor signal it.
"""
from __future__ import annotations

import fcntl
import os
import resource
import secrets
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from coursework import harness

ISOLATION = os.environ.get("COURSEWORK_ISOLATION", "auto")


@dataclass
class Limits:
    """Resource limits of one sandboxed process (seconds, bytes, count)."""
    cpu_seconds: int = 1800
    memory_bytes: int = 6 * 2**30
    file_bytes: int = 64 * 2**20
    processes: int = 64
    open_files: int = 256


class SubmissionError(Exception):
    """The submission's process failed a call: raised, timed out, ended or replied garbage (message is safe)."""


class SubmissionTimeout(SubmissionError):
    pass


class SubmissionEnded(SubmissionError):
    pass


def available_isolation() -> str:
    """The strongest isolation that works on this machine: ``bwrap``, ``unshare`` or ``none``."""
    if ISOLATION != "auto":
        return ISOLATION
    for kind in ("bwrap", "unshare"):
        if shutil.which(kind) and _works(kind):
            return kind
    return "none"


_WORKS: dict[str, bool] = {}


def _works(kind: str) -> bool:
    if kind not in _WORKS:
        with tempfile.TemporaryDirectory() as folder:
            os.chmod(folder, 0o755)
            command = _wrap(kind, Path(folder), ["/bin/true"], 65534 if os.getuid() == 0 else os.getuid())
            try:
                _WORKS[kind] = subprocess.run(command, capture_output=True, timeout=30).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                _WORKS[kind] = False
    return _WORKS[kind]


def _python_paths() -> list[Path]:
    """Folders the interpreter and its packages live in (bound read-only into the bwrap sandbox)."""
    import utils

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parents[1],
             Path(utils.__file__).resolve().parent}
    return sorted(paths)


def _wrap(kind: str, box: Path, command: list[str], uid: int) -> list[str]:
    drop = []
    if os.getuid() == 0 and uid != 0:
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs"]
    if kind == "none":
        return drop + command
    if kind == "unshare":  # without root, a user namespace (mapped to the caller) is what allows the others
        user = [] if os.getuid() == 0 else ["--user", "--map-root-user"]
        return ["unshare", *user, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"] + drop + command
    if kind != "bwrap":
        raise ValueError(f"unknown isolation {kind!r}; choose auto, bwrap, unshare or none")
    wrapped = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
               "--new-session"]
    # As root, bwrap keeps the two capabilities setpriv needs to drop to the grading's user id (then drops all);
    # otherwise it runs in a user namespace as the caller.
    wrapped += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if drop else ["--unshare-user"]
    for system in ("/usr", "/bin", "/lib", "/lib64", "/etc/alternatives"):
        if os.path.exists(system):
            wrapped += ["--ro-bind", system, system]
    # The private /tmp first: the Python paths bound next may lie under /tmp (a checkout there) and must stay visible.
    wrapped += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    made = {Path("/tmp")}
    for path in _python_paths():
        for parent in reversed(path.parents):
            if str(parent) != "/" and parent not in made and not any(str(parent).startswith(s) for s in ("/usr",)):
                made.add(parent)
                wrapped += ["--perms", "0755", "--dir", str(parent)]
        wrapped += ["--ro-bind", str(path), str(path)]
    wrapped += ["--bind", str(box), "/submission", "--chdir", "/submission"]
    return wrapped + drop + command


def _set_limits(limits: Limits):
    def apply():
        for name, value in ((resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_AS, limits.memory_bytes),
                            (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_NOFILE, limits.open_files),
                            (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, limits.processes)):
            resource.setrlimit(name, (value, value))  # RLIMIT_NPROC binds once the user id is dropped
    return apply


class Sandbox:
    """One confined process running ``coursework/harness.py`` on the cells it is sent."""

    def __init__(self, files: dict[str, bytes], limits: Limits | None = None, isolation: str | None = None):
        self.limits = limits or Limits()
        self.isolation = isolation or available_isolation()
        self.uid = 60000 + secrets.randbelow(5000) if os.getuid() == 0 else os.getuid()
        self.folder = Path(tempfile.mkdtemp(prefix="submission-"))
        os.chmod(self.folder, 0o700)
        for name, data in files.items():
            (self.folder / name).write_bytes(data)
        shutil.copy(harness.__file__, self.folder / "_harness.py")
        if os.getuid() == 0:
            for path in [self.folder, *self.folder.iterdir()]:
                os.chown(path, self.uid, self.uid)
        inside = Path("/submission") if self.isolation == "bwrap" else self.folder
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(inside), "TMPDIR": str(inside),
               "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(inside / ".matplotlib"), "IPYTHONDIR": str(inside / ".ipython"),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1", "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
        request_read, self._requests = os.pipe()
        self._replies, reply_write = os.pipe()
        os.set_inheritable(request_read, True)
        os.set_inheritable(reply_write, True)
        command = [sys.executable, str(inside / "_harness.py"), str(request_read), str(reply_write)]
        wrapped = _wrap(self.isolation, self.folder, command, self.uid)
        self.output = open(self.folder / "_output.txt", "wb")
        self.process = subprocess.Popen(
            wrapped, cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=self.output, stderr=self.output,
            pass_fds=(request_read, reply_write), start_new_session=True, preexec_fn=_set_limits(self.limits))
        os.close(request_read)
        os.close(reply_write)
        self.output.close()
        fcntl.fcntl(self._requests, fcntl.F_SETFL, fcntl.fcntl(self._requests, fcntl.F_GETFL) | os.O_NONBLOCK)

    # --- messages -------------------------------------------------------------------------------------------
    def send(self, message: dict, deadline: float) -> None:
        import json

        data = json.dumps(message).encode()
        view = memoryview(struct.pack("<Q", len(data)) + data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SubmissionTimeout("did not read its input in time")
            _, writable, _ = select.select([], [self._requests], [], min(left, 1.0))
            if writable:
                try:
                    view = view[os.write(self._requests, view[:1 << 16]):]
                except BrokenPipeError:
                    raise SubmissionEnded(self._ended()) from None
            elif self.process.poll() is not None:
                raise SubmissionEnded(self._ended())

    def receive(self, deadline: float, limit: int = harness.MAX_MESSAGE) -> dict:
        import json

        header = self._read(8, deadline)
        (length,) = struct.unpack("<Q", header)
        if length > limit:
            raise SubmissionError(f"sent a reply of {length} bytes, over the {limit}-byte limit")
        try:
            message = json.loads(self._read(length, deadline))
        except (ValueError, UnicodeDecodeError):
            raise SubmissionError("sent a malformed reply") from None
        if not isinstance(message, dict):
            raise SubmissionError("sent a malformed reply")
        return message

    def _read(self, n: int, deadline: float) -> bytes:
        chunks, left = [], n
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise SubmissionTimeout("did not answer in time")
            readable, _, _ = select.select([self._replies], [], [], min(wait, 1.0))
            if not readable:
                continue
            chunk = os.read(self._replies, min(left, 1 << 20))
            if not chunk:
                raise SubmissionEnded(self._ended())
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _ended(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the submission's process closed its pipe"
        if code < 0:
            return f"the submission's process was killed by signal {signal.Signals(-code).name}"
        return f"the submission's process exited with status {code}"

    # --- clean-up -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Kill everything the submission started and delete its folder."""
        for fd in (self._requests, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if os.getuid() == 0:
            _kill_user(self.uid)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _kill_user(uid: int) -> None:
    """SIGKILL every process of ``uid`` (the grading's own user id), including ones that left the session."""
    for _ in range(3):
        found = False
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
                if int(fields["Uid"].split()[1]) == uid:
                    found = True
                    os.kill(int(status.parent.name), signal.SIGKILL)
            except (OSError, KeyError, ValueError, IndexError):
                continue
        if not found:
            return
        time.sleep(0.05)
