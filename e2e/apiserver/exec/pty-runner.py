#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal, for `kubectl exec -t` against the test API server.

Why this file: Node has no PTY without a native addon, and script(1) takes its command as one
shell string (so the argv a client sent would have to be re-quoted for a shell). python3's pty
module gives the child a real terminal and keeps the argv exactly as sent.

    pty-runner.py COMMAND [ARG...]

stdin -> the terminal (EOF sends ^D, as a closed terminal would); the terminal -> stdout (the
terminal merges the child's stdout and stderr, as a container runtime does for a TTY). File
descriptor 3, when open, carries resize requests, one JSON object a line, {"Width": W,
"Height": H}, applied with TIOCSWINSZ (the child gets SIGWINCH). Exit status: the child's, or
128 + signal; 127 when the command is not found, 126 when it cannot be run.
"""
import errno
import fcntl
import json
import os
import pty
import select
import struct
import sys
import termios


def set_size(fd, line):
    try:
        size = json.loads(line)
        rows, cols = int(size.get("Height", 0)), int(size.get("Width", 0))
    except (ValueError, AttributeError):
        return
    if rows > 0 and cols > 0:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    argv = sys.argv[1:]
    if not argv:
        sys.stderr.write("pty-runner: no command\n")
        return 2
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            sys.stderr.write("exec %s: %s\n" % (argv[0], e.strerror))
            os._exit(127 if e.errno == errno.ENOENT else 126)
    control = 3
    try:
        os.fstat(control)
    except OSError:
        control = None
    watched = [0, master] + ([control] if control is not None else [])
    pending = b""
    while True:
        try:
            readable, _, _ = select.select(watched, [], [])
        except InterruptedError:
            continue
        if master in readable:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                break
            os.write(1, data)
        if 0 in readable:
            data = os.read(0, 65536)
            if data:
                os.write(master, data)
            else:
                os.write(master, b"\x04")
                watched.remove(0)
        if control is not None and control in readable:
            try:
                data = os.read(control, 4096)
            except OSError:
                data = b""
            if not data:
                watched.remove(control)
                control = None
                continue
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                set_size(master, line)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main())
