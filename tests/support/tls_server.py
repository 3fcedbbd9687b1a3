#!/usr/bin/env python3
"""An HTTPS stand-in for TikTok's token service, for the SSL_CERT_FILE test.

    tls_server.py CERT KEY

Serves on 127.0.0.1 (a free port, printed on stdout) a successful token response to any
GET, over TLS with the given certificate, until killed. Standard library only.
"""
import http.server
import json
import ssl
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        now = int(time.time())
        body = json.dumps({"code": 0, "message": "success", "request_id": "TLS1", "data": {
            "access_token": "TTP_overTlsAccessToken000", "access_token_expire_in": now + 7 * 86400,
            "refresh_token": "TTP_overTlsRefreshToken00", "refresh_token_expire_in": now + 86400 * 300,
            "open_id": "1", "seller_name": "TLS shop", "seller_base_region": "GB", "user_type": 0,
            "granted_scopes": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
