"""Starts a server and measures the time until its first healthy GET /health.

    start.py PORT STDOUT_FILE STDERR_FILE CMD...   prints "PID MILLISECONDS" and leaves it running

Polls with a raw socket every 0.5 ms from this one process, so the figure is not the cost of
spawning a client per attempt.
"""

import socket
import subprocess
import sys
import time

port, out, err, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
t0 = time.perf_counter()
with open(out, "w") as o, open(err, "w") as e:
    server = subprocess.Popen(cmd, stdout=o, stderr=e)
while True:
    if server.poll() is not None:
        print(f"{server.pid} -1")
        sys.exit(1)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                break
    except OSError:
        pass
    time.sleep(0.0005)
print(server.pid, round((time.perf_counter() - t0) * 1000, 1))
