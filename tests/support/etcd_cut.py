#!/usr/bin/env python3
"""A TCP stand-in for one etcd member that forwards every HTTP request to the real one,
except that the first request whose body holds CUT (a substring) is forwarded, applied by
etcd, and then answered with nothing: the connection is closed without a reply, as a
member that dies mid-request (or etcd 3.4.23's gateway bug) leaves it. The tool must read
back and decide, never send the write blindly again.

    etcd_cut.py LISTEN_PORT UPSTREAM_PORT CUT

Prints `listening` once ready; logs each request's path (and `cut`) to stderr.
"""
import socket
import sys
import threading

listen_port, upstream_port, cut = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
state = {"cut": False}
lock = threading.Lock()


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, body


def forward(head, body):
    up = socket.create_connection(("127.0.0.1", upstream_port))
    lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"connection:")]
    up.sendall(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body)
    answer = b""
    while True:
        chunk = up.recv(65536)
        if not chunk:
            break
        answer += chunk
    up.close()
    return answer


def serve(conn):
    try:
        while True:
            request = read_request(conn)
            if request is None:
                return
            head, body = request
            answer = forward(head, body)
            with lock:
                cutting = not state["cut"] and cut in body
                if cutting:
                    state["cut"] = True
            sys.stderr.write("etcd_cut: %s%s\n" % (head.split(b"\r\n")[0].decode(), " (cut)" if cutting else ""))
            sys.stderr.flush()
            if cutting:
                return
            # The upstream answered with Connection: close; keep the client's open.
            answer = answer.replace(b"Connection: close\r\n", b"", 1)
            conn.sendall(answer)
    except OSError:
        return
    finally:
        conn.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", listen_port))
server.listen(64)
print("listening", flush=True)
while True:
    client, _ = server.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
