#!/usr/bin/env python3
"""The README's webhook receiver, as its walk-through and `make demo` run it: every delivery
checked with `tiktok-shop-auth webhook verify` (the app key and secret come from the
environment: TIKTOK_SHOP_APP_KEY and TIKTOK_SHOP_APP_SECRET, as the sandbox's lines set them),
answered at once (TikTok waits 3 s), and handled once per tts_notification_id.
    demo_receiver.py [PORT] [--tool BIN] [--port-file FILE]
PORT on 127.0.0.1 (default 8000; 0 picks a free one, written to FILE); BIN defaults to
`tiktok-shop-auth` on PATH. Each delivery is a line on stdout.
"""
import argparse, http.server, json, subprocess

parser = argparse.ArgumentParser(description="a webhook receiver on 127.0.0.1")
parser.add_argument("port", nargs="?", type=int, default=8000)
parser.add_argument("--tool", default="tiktok-shop-auth")
parser.add_argument("--port-file")
options = parser.parse_args()
TOOL = options.tool
seen = set()


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        check = subprocess.run([TOOL, "webhook", "verify", "--signature", self.headers.get("Authorization", ""), "-"],
                               input=body, capture_output=True, text=False)
        self.send_response(200 if check.returncode == 0 else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if check.returncode != 0:
            print("receiver: refused (401):", check.stderr.decode().strip(), flush=True)
            return
        event = json.loads(body)
        if event["tts_notification_id"] in seen:
            return  # a retry of one already handled
        seen.add(event["tts_notification_id"])
        print("receiver:", check.stdout.decode().strip(), flush=True)
        print("receiver: data", json.dumps(event["data"]), flush=True)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", options.port), Hook)
if options.port_file:
    with open(options.port_file, "w") as f:
        f.write(str(server.server_address[1]))
print(f"receiver: listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
server.serve_forever()
