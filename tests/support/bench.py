#!/usr/bin/env python3
"""make bench: the tool's size and speed, measured, as one table.

Each timing is the median of several runs (the count is in the table). Everything talks
only to 127.0.0.1. Run through `make bench`, which builds the release and static binaries
first. The Python SDK (PyPI `tiktok-shop-api`) is installed into a throwaway virtualenv
under target/; its exchange_code and refresh against our sandbox double as a check that
the sandbox behaves like TikTok to a client nobody here wrote.
"""
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RELEASE = os.path.join(ROOT, "target/release/tiktok-shop-auth")
STATIC = os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/tiktok-shop-auth")
VENV = os.path.join(ROOT, "target/bench-venv")
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
BUILD_RUNS = int(os.environ.get("BENCH_BUILD_RUNS", "3"))
KEY, SECRET = "benchkey", "bench-secret-0123456789"
ENV = {"PATH": os.environ.get("PATH", ""), "TIKTOK_SHOP_APP_KEY": KEY, "TIKTOK_SHOP_APP_SECRET": SECRET,
       "TIKTOK_SHOP_SERVICE_ID": "7001"}
rows = []


def row(what, value, target="", note=""):
    rows.append((what, value, target, note))
    print(f"  {what}: {value} {note}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def median(xs):
    return statistics.median(xs)


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


class Sandbox:
    def __init__(self, redirect, auto=True, extra=()):
        args = [RELEASE, "sandbox", "--listen", "127.0.0.1:0", "--redirect-url", redirect, *extra]
        if auto:
            args.append("--auto-approve")
        self.proc = subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = self.proc.stdout.readline().strip().removeprefix("sandbox listening on ")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


TIME = "/usr/bin/time"


def peak_rss(args, env=ENV):
    """Peak RSS (KiB) of one run, by GNU time: a child forked from this Python process
    would report Python's own RSS, since Linux keeps the high-water mark across exec."""
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run([TIME, "-f", "%M", "-o", out.name, *args], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(out.read().strip().splitlines()[-1])


def fetch_location(url):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(url, timeout=10)
    except urllib.error.HTTPError as e:
        return e.headers["Location"]
    raise RuntimeError("expected a redirect from " + url)


def login_once(binary, workdir, sandbox, redirect, measure_redirect=False):
    """One login with the bench as the browser. Returns (start->listening, redirect->file)."""
    token = os.path.join(workdir, "token.json")
    if os.path.exists(token):
        os.remove(token)
    port = int(redirect.rsplit(":", 1)[1].strip("/"))
    args = [binary, "login", "--no-browser", "--redirect-url", redirect, "--token-file", token,
            "--authorize-url", sandbox.url + "/open/authorize", "--auth-base", sandbox.url, "--timeout", "20"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while True:  # start -> listening: the first moment the port accepts a connection
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("login exited early: " + proc.stderr.read())
    listening = time.perf_counter() - t0
    link = None
    for line in proc.stderr:
        if line.strip().startswith("http://"):
            link = line.strip()
            break
    location = fetch_location(link)
    t1 = time.perf_counter()
    browser = threading.Thread(target=lambda: urllib.request.urlopen(location, timeout=20).read())
    browser.start()
    while not os.path.exists(token):
        pass
    written = time.perf_counter() - t1
    browser.join()
    proc.stderr.close()
    if proc.wait() != 0:
        raise RuntimeError(f"login exited {proc.returncode}")
    return listening, written


def run_timed(args, env=ENV):
    t0 = time.perf_counter()
    r = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{args[:2]} exited {r.returncode}: {r.stderr.decode()}")
    return elapsed


def whole_process(what, label, args, rss_target=""):
    """Two rows: the median time of a whole process, and its peak RSS. Returns the time."""
    t = median(run_timed(args) for _ in range(RUNS))
    rss = median(peak_rss(args) for _ in range(5))
    row(f"{what}, whole process ({label})", ms(t), "", f"(median of {RUNS})")
    row(f"{what} peak RSS ({label})", f"{rss / 1024:.2f} MiB", rss_target, "(median of 5)")
    return t


def login_rss(binary, sandbox, redirect, workdir):
    """Peak RSS of a whole login (the scripted browser approves through the sandbox)."""
    browser = f"python3 {ROOT}/tests/support/browser.py {workdir}/browser.log redirect={redirect},auto"
    token = os.path.join(workdir, "rss-token.json")
    return peak_rss([binary, "login", "--redirect-url", redirect, "--token-file", token, "--authorize-url",
                     sandbox.url + "/open/authorize", "--auth-base", sandbox.url], env={**ENV, "BROWSER": browser})


SDK_REFRESH = r"""
import json, sys
from tiktok_shop_api import TikTokShopAuth
path, base = sys.argv[1], sys.argv[2]
with open(path) as f:
    saved = json.load(f)
auth = TikTokShopAuth(sys.argv[3], sys.argv[4], "7001", base_url=base)
t = auth.refresh(saved["data"]["refresh_token"])
saved["data"].update(access_token=t.access_token, access_token_expire_in=t.access_token_expire_in,
                     refresh_token=t.refresh_token, refresh_token_expire_in=t.refresh_token_expire_in)
with open(path, "w") as f:
    json.dump(saved, f, indent=2)
"""

SDK_COMPAT = r"""
import sys
from tiktok_shop_api import TikTokShopAuth, TikTokShopError
base, code, key, secret = sys.argv[1:5]
auth = TikTokShopAuth(key, secret, "7001", base_url=base)
t = auth.exchange_code(code)
assert t.access_token and t.access_token_expire_in > 0 and t.seller_name == "Sandbox Test Shop", t
r = auth.refresh(t.refresh_token)
assert r.refresh_token != t.refresh_token
try:
    auth.refresh(t.refresh_token)
    raise SystemExit("a rotated refresh token was accepted")
except TikTokShopError as e:
    assert e.code == 36004005, e
try:
    auth.exchange_code(code)
    raise SystemExit("a used code was accepted")
except TikTokShopError as e:
    assert e.code == 36004004, e
print("ok")
"""


SDK_SHOPS = r"""
import sys
from tiktok_shop_api import TikTokShop
base, key, secret, token = sys.argv[1:5]
with TikTokShop(key, secret, token, base_url=base) as client:
    r = client.authorization.get_authorized_shops()
    assert r is not None and r.data.shops[0].cipher, r
print("ok")
"""


def bench_api(work, py):
    """`api` rows: one signed call against the SDK's, and --paginate over 1,000 orders."""
    redirect = f"http://127.0.0.1:{free_port()}/"
    sandbox = Sandbox(redirect)
    try:
        login_once(RELEASE, work, sandbox, redirect)
        token_file = os.path.join(work, "token.json")
        per_binary = {label: whole_process("api /authorization/202309/shops", label,
                                           [binary, "api", "/authorization/202309/shops", "--token-file", token_file,
                                            "--api-base", sandbox.url])
                      for label, binary in (("release", RELEASE), ("static", STATIC))}
        if py:
            script = os.path.join(work, "sdk_shops.py")
            with open(script, "w") as f:
                f.write(SDK_SHOPS)
            with open(token_file) as f:
                access = json.load(f)["data"]["access_token"]
            sdk_args = [py, script, sandbox.url, KEY, SECRET, access]
            r = subprocess.run(sdk_args, capture_output=True, text=True)
            row("SDK get_authorized_shops (its own signer) against the sandbox",
                "ok" if r.stdout.strip() == "ok" else "FAILED: " + (r.stderr or r.stdout)[-300:])
            n = max(5, RUNS // 2)
            sdk_t = median(run_timed(sdk_args, env={"PATH": ENV["PATH"]}) for _ in range(n))
            row("the same call, PyPI tiktok-shop-api SDK, whole process", ms(sdk_t), "", f"(median of {n})")
            row("api call speed-up over the SDK (static)", f"{sdk_t / per_binary['static']:.0f}x", ">= 20x")
    finally:
        sandbox.stop()

    # --paginate: 1,000 orders, 20 ms a request; memory must not grow with the page count.
    for page_size in (100, 10):
        redirect = f"http://127.0.0.1:{free_port()}/"
        sandbox = Sandbox(redirect, extra=["--orders", "1000", "--latency", "20ms"])
        try:
            login_once(RELEASE, work, sandbox, redirect)
            token_file = os.path.join(work, "token.json")
            args = [STATIC, "api", "POST", "/order/202309/orders/search", "--query", f"page_size={page_size}", "--data", "{}",
                    "--paginate", "--token-file", token_file, "--api-base", sandbox.url]
            r = subprocess.run(args, env=ENV, capture_output=True, text=True)
            lines = r.stdout.splitlines()
            orders = sum(len(json.loads(l)["data"]["orders"]) for l in lines) if r.returncode == 0 else 0
            if r.returncode != 0 or orders != 1000:
                row(f"api --paginate, page_size {page_size}", f"FAILED: exit {r.returncode}, {orders} orders: {r.stderr[-200:]}")
                continue
            t = median(run_timed(args) for _ in range(3))
            rss = median(peak_rss(args) for _ in range(3))
            pages = len(lines)
            row(f"api --paginate, 1,000 orders in {pages} pages, 20 ms latency (static)", ms(t), "",
                f"(median of 3; {pages} x 20 ms = {pages * 20} ms is the floor)")
            row(f"api --paginate peak RSS, {pages} pages (static)", f"{rss / 1024:.2f} MiB", "<= 4 MB", "(median of 3)")
        finally:
            sandbox.stop()

    # --paginate through throttling: 100 pages, every 10th call answered 429 / 36009002,
    # against the same 100 pages unthrottled. Each throttle costs one backoff wait (1 s,
    # 0.75-1.25 s with jitter) and one more request: the floor is 10 waits of 0.75 s.
    times = {}
    for label, extra in (("unthrottled", []), ("every 10th call throttled", ["--throttle-every", "10"])):
        redirect = f"http://127.0.0.1:{free_port()}/"
        sandbox = Sandbox(redirect, extra=["--orders", "1000", "--latency", "20ms", *extra])
        try:
            login_once(RELEASE, work, sandbox, redirect)
            token_file = os.path.join(work, "token.json")
            args = [STATIC, "api", "POST", "/order/202309/orders/search", "--query", "page_size=10", "--data", "{}",
                    "--paginate", "-q", "--token-file", token_file, "--api-base", sandbox.url]
            r = subprocess.run(args, env=ENV, capture_output=True, text=True)
            if r.returncode != 0 or len(r.stdout.splitlines()) != 100:
                row(f"api --paginate 100 pages, {label}", f"FAILED: exit {r.returncode}: {r.stderr[-200:]}")
                return
            times[label] = run_timed(args)
        finally:
            sandbox.stop()
    plain, throttled = times["unthrottled"], times["every 10th call throttled"]
    throttles = 100 // 9  # every 10th call, retries included
    row("api --paginate 100 pages, 20 ms latency, every 10th call throttled (static)", f"{throttled:.2f} s",
        "", f"(unthrottled {plain:.2f} s; the backoff's floor: {plain + throttles * 0.75:.2f} s, {throttles} waits of >= 0.75 s)")


def make_sellers(sandbox, directory, n):
    """n token files, each a fresh authorization against the sandbox: the authorize redirect
    gives a code, token/get turns it into the answer a login would save (32 at a time)."""
    from concurrent.futures import ThreadPoolExecutor
    os.makedirs(directory, exist_ok=True)

    def one(i):
        location = fetch_location(f"{sandbox.url}/open/authorize?service_id=7001&state=s{i}")
        code = re.search(r"[?&]code=([^&]+)", location).group(1)
        q = urllib.parse.urlencode({"app_key": KEY, "app_secret": SECRET, "auth_code": urllib.parse.unquote(code),
                                    "grant_type": "authorized_code"})
        body = urllib.request.urlopen(f"{sandbox.url}/api/v2/token/get?{q}", timeout=30).read()
        assert json.loads(body)["code"] == 0, body
        path = os.path.join(directory, f"seller-{i:04d}.json")
        with open(path, "wb") as f:
            f.write(body)
        os.chmod(path, 0o600)
        return path

    with ThreadPoolExecutor(32) as pool:
        return sorted(pool.map(one, range(n)))


def bench_fleet(work):
    """refresh FILE...: --jobs 1, --jobs 8 and a shell loop of single refreshes, 50 ms a request."""
    redirect = f"http://127.0.0.1:{free_port()}/"
    sandbox = Sandbox(redirect, extra=["--latency", "50ms"])
    try:
        results = {}
        for n in (1, 10, 100, 1000):
            files = make_sellers(sandbox, os.path.join(work, f"fleet-{n}"), n)
            base = [STATIC, "refresh", "-q", "--auth-base", sandbox.url]
            one = run_timed([*base, "--jobs", "1", *files])
            eight = run_timed([*base, "--jobs", "8", *files])
            t0 = time.perf_counter()
            for f in files:
                r = subprocess.run([*base, "--token-file", f], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if r.returncode != 0:
                    raise RuntimeError(f"refresh {f} exited {r.returncode}: {r.stderr.decode()}")
            loop = time.perf_counter() - t0
            rss = peak_rss([*base, "--jobs", "8", *files])
            results[n] = (one, eight, loop, rss)
            target = " <= 10 s" if n == 1000 else ""
            row(f"refresh {n} token files, 50 ms latency: --jobs 1 / --jobs 8 / shell loop (static)",
                f"{one:.2f} s / {eight:.2f} s / {loop:.2f} s", f"--jobs 8{target}; >= 6x the loop" if n >= 100 else "",
                f"(--jobs 8 is {loop / eight:.1f}x the loop)")
            row(f"refresh {n} token files --jobs 8, peak RSS (static)", f"{rss / 1024:.2f} MiB", "< 6 MB" if n == 1000 else "")
    finally:
        sandbox.stop()


def bench_fleet_scale(work):
    """refresh FILE... --jobs 8 with no latency: the per-file time at 100 and at 10,000 files
    in one directory. Nothing in a file's run may grow with the directory (no listing per
    file), so the two should be within 1.5x of each other."""
    redirect = f"http://127.0.0.1:{free_port()}/"
    sandbox = Sandbox(redirect)
    try:
        per_file = {}
        for n in (100, 10_000):
            files = make_sellers(sandbox, os.path.join(work, f"scale-{n}"), n)
            base = [STATIC, "refresh", "-q", "--jobs", "8", "--auth-base", sandbox.url]
            per_file[n] = median(run_timed([*base, *files]) for _ in range(3)) / n
            row(f"refresh {n:,} token files in one directory, 0 ms latency, --jobs 8 (static): per file",
                f"{per_file[n] * 1000:.3f} ms", "<= 1.5x the 100-file figure" if n > 100 else "", "(median of 3)")
        row("per-file time, 10,000 files / 100 files", f"{per_file[10_000] / per_file[100]:.2f}x", "<= 1.5x")
    finally:
        sandbox.stop()


class Etcd:
    """A three-member etcd on loopback (Debian's etcd-server), stopped by stop()."""

    def __init__(self, work):
        ports = [free_port() for _ in range(6)]
        self.clients = ports[:3]
        cluster = ",".join(f"m{i}=http://127.0.0.1:{ports[3 + i]}" for i in range(3))
        self.procs = []
        for i in range(3):
            c, p = ports[i], ports[3 + i]
            self.procs.append(subprocess.Popen(
                ["etcd", "--name", f"m{i}", "--data-dir", os.path.join(work, f"etcd-m{i}"),
                 "--listen-client-urls", f"http://127.0.0.1:{c}", "--advertise-client-urls", f"http://127.0.0.1:{c}",
                 "--listen-peer-urls", f"http://127.0.0.1:{p}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
                 "--initial-cluster", cluster, "--auto-compaction-retention", "1", "--quota-backend-bytes", str(4 << 30)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 30
        for c in self.clients:
            while True:
                try:
                    if b"true" in urllib.request.urlopen(f"http://127.0.0.1:{c}/health", timeout=1).read():
                        break
                except OSError:
                    pass
                if time.time() > deadline:
                    raise RuntimeError("etcd did not start")
                time.sleep(0.1)

    def url(self, path):
        return "etcd://" + ",".join(f"127.0.0.1:{c}" for c in self.clients) + "/" + path

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


def due_sellers(sandbox, directory, n):
    """n sellers whose access tokens end in 10 minutes (as the files say): due for
    `refresh --if-expiring-within 1h`, and not once refreshed (the sandbox gives 7 days)."""
    files = make_sellers(sandbox, directory, n)
    soon = int(time.time()) + 600
    for path in files:
        with open(path) as f:
            answer = json.load(f)
        answer["data"]["access_token_expire_in"] = soon
        with open(path, "w") as f:
            json.dump(answer, f)
    return files


def bench_etcd(work):
    """1,000 sellers in a three-member loopback etcd, the sandbox at 50 ms, `refresh --jobs 8
    --if-expiring-within 1h`: from one process, and from three at once (each seller due once:
    whoever locks it first refreshes it, the others find it fresh); beside the same 1,000 as
    files. Every refresh token must be spent once: a second spend would be a seller needing a
    new login, and every run must exit 0 with the refreshes adding up to 1,000."""
    if shutil.which("etcd") is None:
        row("etcd store", "SKIPPED: etcd is not installed (tests/support/test-deps.sh installs etcd-server)")
        return
    redirect = f"http://127.0.0.1:{free_port()}/"
    sandbox = Sandbox(redirect, extra=["--latency", "50ms"])
    etcd = Etcd(work)
    try:
        base = [STATIC, "refresh", "--jobs", "8", "--if-expiring-within", "1h", "--auth-base", sandbox.url]
        files = due_sellers(sandbox, os.path.join(work, "etcd-files"), 1000)
        file_time = run_timed([*base, "-q", *files])
        refreshed = lambda out: int(re.search(r"(\d+) refreshed", out).group(1))
        results = {}
        for label, procs in (("one process", 1), ("three processes at once", 3)):
            prefix = f"bench{procs}"
            sellers = due_sellers(sandbox, os.path.join(work, f"etcd-{prefix}"), 1000)
            subprocess.run([STATIC, "copy", "-q", *sellers, etcd.url(prefix + "/")], env=ENV, check=True, stdout=subprocess.DEVNULL)
            t0 = time.perf_counter()
            running = [subprocess.Popen([*base, etcd.url(prefix + "/")], env=ENV, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True) for _ in range(procs)]
            outs = [p.communicate() for p in running]
            results[label] = time.perf_counter() - t0
            total = 0
            for p, (out, err) in zip(running, outs):
                if p.returncode != 0:
                    raise RuntimeError(f"etcd fleet refresh exited {p.returncode}: {err[-500:]}")
                total += refreshed(out)
            if total != 1000:
                raise RuntimeError(f"{label}: {total} refreshes for 1,000 sellers")
        one, three = results["one process"], results["three processes at once"]
        row("refresh 1,000 sellers, 50 ms latency, --jobs 8: token files (static)", f"{file_time:.2f} s")
        row("refresh 1,000 sellers in a 3-member etcd, one process (static)", f"{one:.2f} s", "<= 1.2x the files",
            f"({one / file_time:.2f}x the files)")
        row("the same, three processes at once (each seller refreshed once in all)", f"{three:.2f} s",
            "<= the one process", f"({three / one:.2f}x one process; every refresh token spent once)")
        # The per-seller cost: round trips to the gateway (one seller's refresh, counted by
        # strace) and the time over the files'.
        trips = "?"
        if shutil.which("strace"):
            one_seller = etcd.url("bench1/seller-0000")
            trace = os.path.join(work, "etcd-trips.trace")
            subprocess.run(["strace", "-f", "-qq", "-e", "trace=sendto", "-s", "24", "-o", trace,
                            STATIC, "refresh", "-q", "--token-file", one_seller, "--auth-base", sandbox.url],
                           env=ENV, check=True, stdout=subprocess.DEVNULL)
            with open(trace) as f:
                trips = str(sum(1 for l in f if "POST /v3/" in l))
        row("etcd's cost per seller", f"{trips} gateway round trips, {(one - file_time) / 1000 * 8 * 1000:.1f} ms",
            "", "(round trips of one refresh; ms = (etcd - files) x 8 jobs / 1,000)")
    finally:
        etcd.stop()
        sandbox.stop()


def bench_webhook(work):
    """`webhook verify` of a 1 MiB delivery (signed here with Python's own HMAC)."""
    import hashlib, hmac
    envelope = {"type": 1, "tts_notification_id": "7380066284010030890", "shop_id": "7495540735365777507",
                "timestamp": 1718305585, "data": {"order_id": "576653688135258178", "order_status": "UNPAID", "note": ""}}
    # Padded to exactly 1 MiB.
    envelope["data"]["note"] = "x" * (1024 * 1024 - len(json.dumps(envelope)))
    body = json.dumps(envelope).encode()
    path = os.path.join(work, "delivery.json")
    with open(path, "wb") as f:
        f.write(body)
    sig = hmac.new(SECRET.encode(), KEY.encode() + body, hashlib.sha256).hexdigest()
    for label, binary in (("release", RELEASE), ("static", STATIC)):
        whole_process(f"webhook verify of a {len(body) // 1024} KiB delivery", label,
                      [binary, "webhook", "verify", "--signature", sig, path])


def bench_artifacts():
    """Each release archive's binary and archive size (make dist built them)."""
    import tarfile
    import zipfile
    dist = os.path.join(ROOT, "target", "dist")
    archives = sorted(f for f in os.listdir(dist) if f.endswith((".tar.gz", ".zip")) and "-src" not in f) if os.path.isdir(dist) else []
    if not archives:
        row("release archives", "FAILED: target/dist has none (make dist)")
    for name in archives:
        path = os.path.join(dist, name)
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as z:
                size = next(i.file_size for i in z.infolist() if i.filename.endswith(".exe"))
        else:
            with tarfile.open(path) as t:
                size = next(m.size for m in t.getmembers() if m.name.endswith("/tiktok-shop-auth"))
        target = name.split("-0", 1)[-1].split("-", 1)[-1].rsplit(".", 2 if name.endswith(".tar.gz") else 1)[0]
        static = "musl" in name
        row(f"{target}: binary / archive", f"{size:,} B / {os.path.getsize(path):,} B", "<= 2.4 MB binary" if static else "")


def sdk_python():
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    ok = subprocess.run([py, "-c", "import tiktok_shop_api"], capture_output=True).returncode == 0
    if not ok:
        r = subprocess.run([py, "-m", "pip", "install", "-q", "tiktok-shop-api"], capture_output=True, text=True)
        if r.returncode != 0:
            print("cannot install the PyPI SDK tiktok-shop-api: " + r.stderr[-500:], file=sys.stderr)
            return None
    return py


def main():
    for b in (RELEASE, STATIC):
        if not os.path.exists(b):
            sys.exit(f"{b} is missing: run `make bench`, which builds it")
    print(f"measuring ({RUNS} runs a timing, {BUILD_RUNS} clean builds)...", file=sys.stderr)
    if not os.path.exists(TIME):
        sys.exit(f"{TIME} is missing: `make bench` installs Debian's time package")
    floor = median(peak_rss(["/bin/true"]) for _ in range(5))
    row("release binary (stripped)", f"{os.path.getsize(RELEASE):,} B")
    row("static musl binary (stripped)", f"{os.path.getsize(STATIC):,} B", "<= 2.2 MB")
    tree = subprocess.run(["cargo", "tree", "--locked", "-e", "normal", "--prefix", "none", "--target", "x86_64-unknown-linux-gnu"],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout
    crates = {l.split()[0] for l in tree.splitlines() if l.strip()} - {"tiktok-shop-auth"}
    row("distinct crates (normal deps, Linux)", str(len(crates)), "<= 33")
    bench_artifacts()

    build_dir = os.path.join(ROOT, "target", "bench-build")
    times = []
    for _ in range(BUILD_RUNS):  # BENCH_BUILD_RUNS=0 skips this (for a quick look)
        shutil.rmtree(build_dir, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True,
                       env={**os.environ, "CARGO_TARGET_DIR": build_dir})
        times.append(time.perf_counter() - t0)
    shutil.rmtree(build_dir, ignore_errors=True)
    if times:
        row("clean release build", f"{median(times):.1f} s", "<= 35 s", f"(median of {BUILD_RUNS}; {os.cpu_count()} cores)")

    work = tempfile.mkdtemp(prefix="tsa-bench-")
    try:
        for label, binary in (("release", RELEASE), ("static", STATIC)):
            port = free_port()
            redirect = f"http://127.0.0.1:{port}/"
            sandbox = Sandbox(redirect)
            try:
                results = [login_once(binary, work, sandbox, redirect) for _ in range(RUNS)]
                rss = [login_rss(binary, sandbox, redirect, work) for _ in range(5)]
            finally:
                sandbox.stop()
            row(f"login start -> listening ({label})", ms(median(r[0] for r in results)), "<= 2 ms", f"(median of {RUNS})")
            row(f"login redirect -> file written ({label})", ms(median(r[1] for r in results)), "<= 102 ms", f"(median of {RUNS})")
            row(f"login peak RSS ({label})", f"{median(rss) / 1024:.2f} MiB", "<= 3 MB (static)", "(median of 5)")

        # refresh: one chain of rotating refresh tokens, first the tool, then the SDK.
        port = free_port()
        redirect = f"http://127.0.0.1:{port}/"
        sandbox = Sandbox(redirect)
        try:
            login_once(RELEASE, work, sandbox, redirect)
            token = os.path.join(work, "token.json")
            per_binary = {label: whole_process("refresh", label,
                                               [binary, "refresh", "-q", "--token-file", token, "--auth-base", sandbox.url],
                                               "<= 3 MB (static)")
                          for label, binary in (("release", RELEASE), ("static", STATIC))}
            py = sdk_python()
            if py:
                script = os.path.join(work, "sdk_refresh.py")
                with open(script, "w") as f:
                    f.write(SDK_REFRESH)
                n = max(5, RUNS // 2)
                sdk_t = median(run_timed([py, script, token, sandbox.url, KEY, SECRET], env={"PATH": ENV["PATH"]}) for _ in range(n))
                row("refresh, PyPI tiktok-shop-api SDK, whole process", ms(sdk_t), "", f"(median of {n})")
                ratio = sdk_t / per_binary["static"]
                row("refresh speed-up over the SDK (static)", f"{ratio:.0f}x", ">= 20x")
                # The tool must still accept what the SDK wrote.
                run_timed([RELEASE, "refresh", "-q", "--token-file", token, "--auth-base", sandbox.url])
        finally:
            sandbox.stop()

        bench_api(work, py)
        bench_fleet(work)
        bench_fleet_scale(work)
        bench_etcd(work)
        bench_webhook(work)
        row("peak RSS of /bin/true under the same measurement", f"{floor / 1024:.2f} MiB", "", "(the floor of the method)")
        if py:
            sandbox = Sandbox(f"http://127.0.0.1:{free_port()}/")
            try:
                location = fetch_location(sandbox.url + "/open/authorize?service_id=7001&state=s")
                code = re.search(r"[?&]code=([^&]+)", location).group(1)
                script = os.path.join(work, "sdk_compat.py")
                with open(script, "w") as f:
                    f.write(SDK_COMPAT)
                r = subprocess.run([py, script, sandbox.url, code, KEY, SECRET], capture_output=True, text=True)
                row("SDK exchange_code + refresh against the sandbox", "ok" if r.stdout.strip() == "ok" else "FAILED: " + (r.stderr or r.stdout)[-300:])
            finally:
                sandbox.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    print(f"\ntiktok-shop-auth bench, {time.strftime('%Y-%m-%d')}, {platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}")
    print()
    print("| figure | value | target | note |")
    print("|---|---|---|---|")
    for what, value, target, note in rows:
        print(f"| {what} | {value} | {target} | {note} |")
    if any(str(v).startswith("FAILED") for _, v, _, _ in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
