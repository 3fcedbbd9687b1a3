#!/usr/bin/env python3
"""A scripted browser for the integration tests, set as $BROWSER.

    browser.py LOG ACTION[,ACTION...] URL

The tool appends the authorization link (URL). Each action is one thing a browser or a
user does; what happened is appended to LOG as JSON lines, which the tests read:

    approve | deny   open the sandbox's page, check it offers Authorize and Deny, submit one,
                     follow the redirect to the tool's listener and record the final page
    auto             open the link, expect an immediate redirect (--auto-approve), follow it
    favicon          request /favicon.ico from the listener first
    forged           send the listener a redirect with a code and a state of our own
    hostile          send the listener a denial whose error and error_description carry
                     terminal escapes and a forged line (any web page could do this)
    replay=FILE      send the listener the address recorded in FILE (a stale tab)
    preconnect       open a connection to the listener that never sends anything
    none             do nothing (the seller walked away)

Only the standard library is used, and only loopback addresses are contacted.
"""
import http.client
import json
import socket
import sys
import time
import urllib.parse

log_path, actions, link = sys.argv[1], sys.argv[2].split(","), sys.argv[-1]
held = []


def record(step, **fields):
    with open(log_path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": step, **fields}) + "\n")


def get(url):
    u = urllib.parse.urlsplit(url)
    host = u.hostname
    conn = http.client.HTTPConnection(host, u.port or 80, timeout=30)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    conn.request("GET", path, headers={"User-Agent": "scripted-browser"})
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    headers = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, headers, body


def follow_to_listener(status, headers, step):
    if status != 302 or "location" not in headers:
        record(step, error=f"expected a redirect, got {status}")
        return
    location = headers["location"]
    record("redirected", url=location)
    s, h, b = get(location)
    record(step, status=s, headers=h, body=b, url=location)


record("started")  # first, so a log exists as soon as the browser runs

REDIRECT = None
for action in actions:
    if action.startswith("redirect="):
        REDIRECT = action.split("=", 1)[1]

for action in actions:
    name, _, arg = action.partition("=")
    try:
        if name == "redirect":
            continue
        if name == "none":
            record("none")
        elif name == "favicon":
            u = urllib.parse.urlsplit(REDIRECT)
            s, h, b = get(f"{u.scheme}://{u.netloc}/favicon.ico")
            record("favicon", status=s, headers=h, body=b)
        elif name == "forged":
            sep = "&" if "?" in REDIRECT else "?"
            s, h, b = get(f"{REDIRECT}{sep}code=ROW_forged&state=not-the-right-state&app_key=x")
            record("forged", status=s, headers=h, body=b)
        elif name == "hostile":
            sep = "&" if "?" in REDIRECT else "?"
            q = "error=%1b%5d0%3bpwned%07%1b%5b2J&error_description=%0d%0aauthorized%20and%20saved%1b%5b31m"
            s, h, b = get(f"{REDIRECT}{sep}{q}")
            record("hostile", status=s, headers=h, body=b)
        elif name == "replay":
            with open(arg, encoding="utf-8") as f:
                old = f.read().strip()
            s, h, b = get(old)
            record("replay", status=s, headers=h, body=b, url=old)
        elif name == "preconnect":
            u = urllib.parse.urlsplit(REDIRECT)
            sock = socket.create_connection((u.hostname, u.port), timeout=30)
            held.append(sock)
            record("preconnect")
        elif name == "auto":
            s, h, b = get(link)
            follow_to_listener(s, h, "final")
        elif name in ("approve", "deny"):
            s, h, b = get(link)
            ok = s == 200 and 'id="authorize"' in b and 'id="deny"' in b
            record("authorize-page", status=s, ok=ok)
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
            u = urllib.parse.urlsplit(link)
            decide = f"{u.scheme}://{u.netloc}/open/authorize/decide?" + urllib.parse.urlencode(
                {"service_id": q.get("service_id", ""), "state": q.get("state", ""), "decision": name})
            s, h, b = get(decide)
            follow_to_listener(s, h, "final")
    except Exception as e:  # recorded, so a test failure shows it
        record(name, error=repr(e))

record("done")
time.sleep(0.2)
