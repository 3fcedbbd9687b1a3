#!/usr/bin/env python3
"""The README's webhook receiver, as `make demo` runs it: every delivery checked with
`tiktok-shop-auth webhook verify` (the app key and secret come from the environment),
answered at once (TikTok waits 3 s), and handled once per tts_notification_id.
    demo_receiver.py TOOL PORTFILE   (binds 127.0.0.1 port 0, writes the port to PORTFILE)
"""
import http.server, json, subprocess, sys

TOOL, PORTFILE = sys.argv[1], sys.argv[2]
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


server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
with open(PORTFILE, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
