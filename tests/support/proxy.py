#!/usr/bin/env python3
"""A forward HTTP proxy for the tests: absolute-form requests (`GET http://any.host/path`)
are sent on to one upstream (the sandbox) whatever host they name, and CONNECT tunnels to
it. Binds 127.0.0.1 only, prints `proxy listening on PORT`, and logs each request line
(with the Proxy-Authorization it got, as `auth=yes/no`) to the file given.
    proxy.py UPSTREAM_HOST:PORT LOGFILE
"""
import http.client, http.server, select, socket, socketserver, sys, urllib.parse

UPSTREAM, LOG = sys.argv[1], sys.argv[2]
HOST, PORT = UPSTREAM.rsplit(":", 1)


def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        log(f"{self.command} {self.path} auth={'yes' if self.headers.get('Proxy-Authorization') else 'no'}")
        target = urllib.parse.urlsplit(self.path)
        path = target.path + (f"?{target.query}" if target.query else "")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(HOST, int(PORT), timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization", "proxy-connection")}
        conn.request(self.command, path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = forward

    def do_CONNECT(self):
        log(f"CONNECT {self.path} auth={'yes' if self.headers.get('Proxy-Authorization') else 'no'}")
        upstream = socket.create_connection((HOST, int(PORT)))
        self.send_response(200, "Connection established")
        self.end_headers()
        sockets = [self.connection, upstream]
        while True:
            ready, _, _ = select.select(sockets, [], [], 60)
            if not ready:
                break
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (upstream if s is self.connection else self.connection).sendall(data)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Proxy)
print(f"proxy listening on {server.server_address[1]}", flush=True)
server.serve_forever()
