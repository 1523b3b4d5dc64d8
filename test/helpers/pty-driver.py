#!/usr/bin/env python3
"""Runs a command in a pseudo-terminal and follows a script, as a user at a terminal would.

Reads one JSON object on stdin:

  {"argv": ["node", "bin/vmsfx", "run", "app.vmsfx"], "cwd": "/repo", "env": {"TERM": "xterm-256color"},
   "rows": 30, "cols": 100,
   "steps": [{"wait": "GNU nano", "timeout": 120},
             {"send": "hello\\u0003"},
             {"resize": [40, 120]},
             {"sleep": 1},
             {"exit": 120}]}

  wait    a Python regular expression, searched in the output (decoded as latin-1, so one character
          is one byte) from where the previous wait's match ended; on a match the search point moves
          past it. Fails after `timeout` seconds (default 120).
  raw     wait until the command has put the terminal in raw mode (no line editing, no echo), so
          keys sent next reach it as they are (at most `timeout` seconds, default 120).
  send    text (UTF-8) written to the terminal, as typed keys; with "pace": seconds between bytes.
  resize  the terminal's new size: the kernel sends the command SIGWINCH.
  sleep   seconds.
  exit    wait for the command to end (at most this many seconds).

Writes one JSON object on stdout: {"ok", "error", "step", "exit" (exit code, or -signal),
"transcript" (all output, latin-1), "marks" (the transcript's length after each step)}.
A command still running after the last step, or when a step fails, is killed.
"""
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Session:
    def __init__(self, spec):
        env = dict(os.environ, **spec.get("env", {}))
        pid, fd = pty.fork()
        if pid == 0:  # the child: a session leader whose controlling terminal is the pty
            try:
                set_size(0, spec["rows"], spec["cols"])
                if spec.get("cwd"):
                    os.chdir(spec["cwd"])
                os.execvpe(spec["argv"][0], spec["argv"], env)
            except OSError as e:
                os.write(2, f"pty-driver: cannot run {spec['argv'][0]}: {e}\n".encode())
            os._exit(127)
        self.pid, self.fd = pid, fd
        self.out = bytearray()
        self.pos = 0
        self.status = None
        self.eof = False

    def pump(self, timeout):
        """Reads what the command wrote within `timeout` seconds; notes its end."""
        if not self.eof and select.select([self.fd], [], [], timeout)[0]:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: every holder of the terminal's other side has closed it
                data = b""
            if data:
                self.out += data
            else:
                self.eof = True
        elif self.eof:
            time.sleep(min(timeout, 0.05))
        if self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)

    def wait(self, pattern, timeout):
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.out.decode("latin-1"), self.pos)
            if m:
                self.pos = m.end()
                return
            if self.status is not None and self.eof:
                raise Failure(f"the command ended (exit {self.status}) before its output matched /{pattern}/")
            left = end - time.monotonic()
            if left <= 0:
                raise Failure(f"the output did not match /{pattern}/ within {timeout} s")
            self.pump(min(left, 0.5))

    def wait_raw(self, timeout):
        end = time.monotonic() + timeout
        # The terminal's settings, read from this side: a pty's two sides share them.
        while termios.tcgetattr(self.fd)[3] & (termios.ICANON | termios.ECHO):
            if self.status is not None:
                raise Failure(f"the command ended (exit {self.status}) before it made the terminal raw")
            if time.monotonic() > end:
                raise Failure(f"the terminal was not made raw within {timeout} s")
            self.pump(0.1)

    def send(self, text, pace):
        data = text.encode("utf-8")
        for chunk in ([data[i:i + 1] for i in range(len(data))] if pace else [data]):
            os.write(self.fd, chunk)
            if pace:
                self.pump(pace)

    def sleep(self, seconds):
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.pump(min(left, 0.5))

    def wait_exit(self, timeout):
        end = time.monotonic() + timeout
        while self.status is None or not self.eof:
            left = end - time.monotonic()
            if left <= 0:
                raise Failure(f"the command did not end within {timeout} s")
            self.pump(min(left, 0.5))

    def kill(self):
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            _, st = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(st)


class Failure(Exception):
    pass


def main():
    spec = json.load(sys.stdin)
    s = Session(spec)
    result = {"ok": True, "error": None, "step": None, "marks": []}
    try:
        for i, step in enumerate(spec["steps"]):
            result["step"] = i
            if "wait" in step:
                s.wait(step["wait"], step.get("timeout", 120))
            elif "raw" in step:
                s.wait_raw(step.get("timeout", 120))
            elif "send" in step:
                s.send(step["send"], step.get("pace", 0))
            elif "resize" in step:
                set_size(s.fd, *step["resize"])
            elif "sleep" in step:
                s.sleep(step["sleep"])
            elif "exit" in step:
                s.wait_exit(step["exit"])
            else:
                raise Failure(f"unknown step {json.dumps(step)}")
            result["marks"].append(len(s.out))
        result["step"] = None
    except Failure as e:
        result.update(ok=False, error=str(e))
    s.kill()
    result["exit"] = s.status
    result["transcript"] = s.out.decode("latin-1")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
