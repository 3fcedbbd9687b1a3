#!/usr/bin/env python3
"""A webhook receiver for the tests, checking TikTok Shop's signature with its own HMAC
(Python's hmac and hashlib, not the tool's code): hex HMAC-SHA256 keyed by the app secret
over the app key followed by the raw body. Binds 127.0.0.1 port 0, prints
`receiver listening on PORT`, and logs each delivery as one JSON line to LOGFILE (written
before answering, so a client that gave up still leaves a line).
    webhook_receiver.py MODE APP_KEY APP_SECRET LOGFILE
MODE: verify (200 when the signature is right, else 401), fail (always 500, with a body
full of terminal controls), flaky-N (the first N deliveries as fail, then as verify), slow
(4 s, then 200), accept (200 whatever the signature), refuse (always 401). Each line has
`at`, the receiver's monotonic clock in seconds, so a test can compare the gaps between
retries (never a wall-clock time).
"""
import hashlib, hmac, http.server, json, socketserver, sys, threading, time

MODE, APP_KEY, APP_SECRET, LOG = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode(), sys.argv[4]
FAILING = int(MODE[len("flaky-"):]) if MODE.startswith("flaky-") else 0
seen = 0
lock = threading.Lock()


def log(entry):
    with open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            seen += 1
            mode = MODE if not FAILING else ("fail" if seen <= FAILING else "verify")
        given = self.headers.get("Authorization") or ""
        expected = hmac.new(APP_SECRET, APP_KEY + body, hashlib.sha256).hexdigest()
        signature_ok = hmac.compare_digest(given.lower(), expected)
        try:
            envelope = json.loads(body)
        except ValueError:
            envelope = None
        log({
            "at": time.monotonic(),
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "authorization": given,
            "signature_ok": signature_ok,
            "body": body.decode("utf-8", "replace"),
            "envelope": envelope,
        })
        if mode == "verify":
            status, answer = (200, b"") if signature_ok else (401, b"bad signature")
        elif mode == "fail":
            status, answer = 500, b"internal error \x1b[31mred\x1b[0m\x07 \x1b]0;pwned\x07 end"
        elif mode == "slow":
            time.sleep(4)
            status, answer = 200, b""
        elif mode == "accept":
            status, answer = 200, b""
        else:
            status, answer = 401, b"refused"
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass  # the client gave up (slow mode)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Receiver)
print(f"receiver listening on {server.server_address[1]}", flush=True)
server.serve_forever()
