/**
 * The flood bench's attacker, run by flood.ts in the denied pod's namespace as
 * `python3 -c FLOOD_CLIENT HOST PORT SECONDS` (argv only). For SECONDS it opens TCP sockets to
 * HOST:PORT as fast as one Python process can, each non-blocking: connect() hands the SYN to the
 * kernel before it returns, and the socket is closed at once (a socket closed in SYN-SENT sends
 * nothing more), so an attempt is exactly one SYN. At the end it prints one JSON line: attempts,
 * errors (a connect() that failed outright), its CPU time in ms. Whether the rules hold is checked
 * before the flood (flood.ts), not by it: it never waits for an answer.
 *
 * Why Python and not Node: a Node socket costs about a millisecond of event-loop time to open and
 * close, which caps a Node flood near 1,000 attempts a second, and sockets held open past TCP's
 * first retransmission (1 s) send a second SYN. Python's plain sockets reach about ten times that
 * rate on this machine with one SYN per attempt. python3 is in every Debian image.
 */
export const FLOOD_CLIENT = `
import errno, json, resource, socket, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + seconds
attempts = errors = 0
while time.monotonic() < end:
    for _ in range(64):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        r = s.connect_ex((host, port))
        attempts += 1
        if r not in (0, errno.EINPROGRESS):
            errors += 1
        s.close()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"attempts": attempts, "errors": errors,
                  "cpuMs": round((ru.ru_utime + ru.ru_stime) * 1000)}))
`;

/** The Python interpreter: Debian's, else whichever `python3` is first on PATH. */
export const PYTHON_CANDIDATES: readonly string[] = ['/usr/bin/python3', 'python3'];
