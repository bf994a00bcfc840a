"""DICOMweb benchmark, side by side on one machine: our /dicomweb/ (gunicorn + PostgreSQL + Redis) against
Orthanc 1.10 with its DICOMweb plugin, both holding the same real series (RICORD, 248 JPEG-lossless CT slices).

Run: .venv/bin/python tests/benchmarks/bench_dicomweb.py [--seconds 10] [--web-workers 2] [--web-threads 4]
     [--client http.client|requests]
     (DICOMWEB_FRAME_LOOKUP_SECONDS=0 in the environment: every frame pays its database query)
     (needs PostgreSQL: DATABASE_URL naming a role that may create databases, default
     postgres://ild:ild@127.0.0.1:5432/ild; a database ild_bench_dicomweb is made afresh. Needs Orthanc:
     apt-get install -y orthanc orthanc-dicomweb. Needs `unshare` and root, or unprivileged user namespaces.)

Measures, per server: WADO-RS frame GET (frame 1 of each instance, stored transfer syntax:
`Accept: multipart/related; type="application/octet-stream"; transfer-syntax=*`) at 1, 8 and 32 concurrent
clients, each looping over all instances for --seconds: frames/s, p50/p99 latency, and the CPU time each side
spent per frame; then warm series metadata (WADO-RS .../metadata, 50 sequential requests after 3 warm-ups):
p50/p99 (our target: p50 <= 50 ms). Each server is asked for its own UIDs (ours are de-identified on import,
Orthanc keeps the originals); every frame answer is checked once per server (one part, the stored frame).

Orthanc 1.10 listens on every interface whatever its configuration, so the whole benchmark runs in a private
network namespace that has only `lo`: run normally, the script re-executes itself under `unshare --net`
(brings `lo` up first) and nothing in it can be reached from outside. PostgreSQL listens on the host's
loopback, which that namespace cannot see: the outer process relays its TCP port through a Unix socket in a
temporary folder (filesystem sockets cross network namespaces), and Django and psycopg connect to that.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RICORD = Path(os.environ.get("ILD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "ricord-1a-chest-series"
DATABASE_NAME = "ild_bench_dicomweb"
INNER_ENV = "ILD_BENCH_DICOMWEB_PG_SOCKET_DIR"  # set for the re-executed process: where the relayed PostgreSQL is
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
CONCURRENCY = (1, 8, 32)
METADATA_TARGET_P50_MS = 50.0
ORTHANC_INSTALL = "apt-get install -y orthanc orthanc-dicomweb"


# ---------------------------------------------------------------- private network namespace


def in_private_network() -> bool:
    """Only `lo` in this process's network namespace (/proc/self/net is per namespace, /sys/class/net is not)."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return [line.split(":")[0].strip() for line in lines] == ["lo"]


def relay_unix_to_tcp(socket_path: Path, target: tuple[str, int]) -> socket.socket:
    """Accept on a Unix socket and pipe each connection to `target` (TCP), in daemon threads."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    listener.listen(64)

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                upstream = socket.create_connection(target)
            except OSError:
                client.close()  # PostgreSQL is down: the client sees a closed connection
                continue
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for pair in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=pair, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener


def reexecute_in_private_network(admin_url: str) -> int:
    if shutil.which("unshare") is None:
        print("`unshare` (util-linux) is needed to keep Orthanc off the network", file=sys.stderr)
        return 2
    parts = urllib.parse.urlsplit(admin_url)
    socket_dir, listener, child_env = None, None, dict(os.environ)
    if not urllib.parse.unquote(parts.hostname or "/").startswith("/"):  # a Unix socket reaches in unaided
        socket_dir = Path(tempfile.mkdtemp(prefix="ild-bench-pg-"))
        os.chmod(socket_dir, 0o755)
        port = parts.port or 5432
        listener = relay_unix_to_tcp(socket_dir / f".s.PGSQL.{port}", (parts.hostname, port))
        child_env[INNER_ENV] = str(socket_dir)
    # Unprivileged users need a user namespace to make a network namespace; root does not.
    unshare = ["unshare", "--net"] + (["--map-root-user"] if os.geteuid() != 0 else [])
    # Its own session: a Ctrl-C reaches the child once, through us, and the relay outlives its clean-up.
    child = subprocess.Popen([*unshare, "--", sys.executable, __file__, *sys.argv[1:]],
                             env=child_env, start_new_session=True)  # fmt: skip

    def forward(signum: int, frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # the child stops its servers in its finally block

    previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if listener is not None:
            listener.close()
            shutil.rmtree(socket_dir, ignore_errors=True)


def database_urls(admin_url: str) -> tuple[str, str]:
    """(admin URL, this benchmark's database URL), both through the relay's socket when there is one."""
    socket_dir = os.environ.get(INNER_ENV)
    if socket_dir:
        parts = urllib.parse.urlsplit(admin_url)
        credentials = parts.netloc.rpartition("@")[0]
        host = urllib.parse.quote(socket_dir, safe="")
        admin_url = urllib.parse.urlunsplit(parts._replace(netloc=f"{credentials}@{host}:{parts.port or 5432}"))
    return admin_url, admin_url.rsplit("/", 1)[0] + f"/{DATABASE_NAME}"


def fresh_database(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


# ---------------------------------------------------------------- the two servers


@dataclass
class Target:
    """One server as the clients see it: its port, its paths and headers, and its processes (for CPU time)."""

    name: str
    port: int
    frame_paths: list[str]
    metadata_path: str
    headers: dict[str, str]
    process: subprocess.Popen
    # CPU spent for it outside its processes, by name: PostgreSQL's backends and the relay, for ours.
    helper_cpu_seconds: dict[str, Callable[[], float]] = field(default_factory=dict)
    results: dict[int, dict] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process and its children (gunicorn's workers)."""
        import psutil

        total = 0.0
        root = psutil.Process(self.process.pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def connections_per_child(self) -> list[int]:
        """Established client connections held by each child process (gunicorn's workers; none for Orthanc)."""
        import psutil

        counts = []
        for child in psutil.Process(self.process.pid).children():
            try:
                held = child.net_connections("tcp")
            except psutil.Error:
                continue
            counts.append(sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == self.port for c in held))
        return sorted(counts, reverse=True)


def cpu_seconds_of(wanted: Callable) -> float:
    """User + system CPU time of the processes for which `wanted(process)` is true."""
    import psutil

    total = 0.0
    for process in psutil.process_iter(["cmdline"]):
        try:
            if wanted(process):
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            pass
    return total


def postgres_cpu_seconds() -> float:
    """The PostgreSQL backends serving this benchmark's database (their title names it)."""
    return cpu_seconds_of(lambda p: f" {DATABASE_NAME} " in " ".join(p.info["cmdline"] or []) + " ")


def relay_cpu_seconds() -> float:
    """The outer process, which does nothing but relay PostgreSQL's connections (none without it)."""
    return cpu_seconds_of(lambda p: bool(os.environ.get(INNER_ENV)) and p.pid == os.getppid())


def import_ours() -> tuple[str, str, list[str], str]:
    """Import RICORD in-process; (study UID, series UID, SOP UIDs in z order, an API token)."""
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from ildplatform import services
    from ildplatform.dicom_import import read_sources
    from ildplatform.models import Series

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    sources, problems = read_sources([RICORD], services.archive_limits())
    if problems:
        raise RuntimeError(f"reading {RICORD}: {problems}")
    report = services.series_import(sources=sources)
    print(f"our import of {len(sources)} files: {time.perf_counter() - started:.1f} s")
    series = Series.objects.get(pk=report.series[0].series_id)
    sop_uids = list(series.slices.order_by("z_index").values_list("sop_uid", flat=True))
    user = services.user_create(username="dicomweb-bench", role="reader", password=None)
    return series.study_uid, series.series_uid, sop_uids, Token.objects.create(user=user).key


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc") or next((p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if Path(p).exists()),
                                           None)  # fmt: skip


def dicomweb_plugin() -> str | None:
    """The plugin's file as the orthanc-dicomweb package installed it (dpkg -L)."""
    listing = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, check=False).stdout
    found = [line for line in listing.splitlines() if "/plugins/" in line and line.endswith(".so")]
    return found[0] if found else None


def start_orthanc(scratch: Path, http_port: int, dicom_port: int) -> subprocess.Popen:
    from ildplatform import embedded

    binary, plugin = orthanc_binary(), dicomweb_plugin()
    if binary is None or plugin is None:
        raise SystemExit(f"Orthanc and its DICOMweb plugin are needed: {ORTHANC_INSTALL}")
    storage = scratch / "orthanc-storage"
    storage.mkdir()
    config = {
        "Name": "bench", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
        "StorageCompression": False, "HttpPort": http_port, "DicomServerEnabled": False, "DicomPort": dicom_port,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "HttpCompressionEnabled": False,
        "KeepAlive": True, "TcpNoDelay": True, "SaveJobs": False,
        # The plugin's own file rather than its folder: other plugins installed there would change what is measured.
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }  # fmt: skip
    (scratch / "orthanc.json").write_text(json.dumps(config, indent=1))
    log = (scratch / "orthanc.log").open("wb")
    process = subprocess.Popen([binary, str(scratch / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                               cwd=scratch, start_new_session=True)  # fmt: skip
    try:
        embedded.wait_for_port(http_port, process)
    except (RuntimeError, TimeoutError):
        print((scratch / "orthanc.log").read_text(errors="replace")[-3000:], file=sys.stderr)  # the scratch goes
        embedded.stop([process])
        raise
    return process


def upload_to_orthanc(port: int) -> tuple[str, str, list[str]]:
    """POST each file to /instances; (study UID, series UID, SOP UIDs in upload order) as Orthanc stores them."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    files = sorted(p for p in RICORD.iterdir() if p.is_file())
    for path in files:
        connection.request("POST", "/instances", body=path.read_bytes(), headers={"Content-Type": "application/dicom"})
        answer = connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"Orthanc refused {path.name}: {answer.status} {body[:200]!r}")
    print(f"Orthanc upload of {len(files)} files: {time.perf_counter() - started:.1f} s")

    def get_json(path: str):
        connection.request("GET", path)
        answer = connection.getresponse()
        return json.loads(answer.read())

    (series_id,) = get_json("/series")
    series = get_json(f"/series/{series_id}")
    study = get_json(f"/studies/{series['ParentStudy']}")
    instances = get_json(f"/series/{series_id}/instances")
    instances.sort(key=lambda i: int(i["MainDicomTags"].get("InstanceNumber") or 0))
    connection.close()
    return (study["MainDicomTags"]["StudyInstanceUID"], series["MainDicomTags"]["SeriesInstanceUID"],
            [i["MainDicomTags"]["SOPInstanceUID"] for i in instances])  # fmt: skip


# ---------------------------------------------------------------- clients


Getter = Callable[[str, dict[str, str]], tuple[int, dict[str, str], bytes]]


def http_client_getter(port: int) -> tuple[Getter, Callable[[], None]]:
    """A keep-alive HTTP/1.1 connection from the standard library: a fraction of requests' CPU per request,
    which matters when the client shares 2 cores with the server it measures."""
    box = [http.client.HTTPConnection("127.0.0.1", port, timeout=120)]

    def get(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        try:
            box[0].request("GET", path, headers=headers)
            answer = box[0].getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        except (OSError, http.client.HTTPException):
            box[0].close()  # a dropped keep-alive connection: the next request opens a new one
            box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            return 0, {}, b""

    return get, lambda: box[0].close()


def requests_getter(port: int) -> tuple[Getter, Callable[[], None]]:
    import requests

    session = requests.Session()

    def get(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        try:
            answer = session.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=120)
        except requests.RequestException:
            return 0, {}, b""
        return answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content

    return get, session.close


CLIENTS = {"http.client": http_client_getter, "requests": requests_getter}


def frame_headers(target: Target) -> dict[str, str]:
    # identity: neither server should spend time compressing (Orthanc's is off anyway; JPEG does not shrink).
    return target.headers | {"Accept": FRAME_ACCEPT, "Accept-Encoding": "identity"}


def multipart_parts(content_type: str, body: bytes) -> list[bytes]:
    """The payloads of a multipart/related body (just enough parsing to check an answer)."""
    boundary = next((p.strip().split("=", 1)[1].strip('"') for p in content_type.split(";")
                     if p.strip().lower().startswith("boundary=")), None)  # fmt: skip
    if boundary is None or not body.rstrip(b"\r\n").endswith(f"--{boundary}--".encode()):
        raise AssertionError(f"not a complete multipart body: {content_type!r}")
    parts = []
    for chunk in body.split(f"--{boundary}".encode())[1:-1]:
        _head, _, payload = chunk.partition(b"\r\n\r\n")
        parts.append(payload.removesuffix(b"\r\n"))
    return parts


def stored_frame_digests() -> set[str]:
    """SHA-256 of frame 1 of each source file: what a `transfer-syntax=*` answer must hold, byte for byte."""
    import pydicom
    from pydicom.encaps import generate_frames

    digests = set()
    for path in sorted(RICORD.iterdir()):
        dataset = pydicom.dcmread(path)
        digests.add(hashlib.sha256(next(generate_frames(dataset.PixelData, number_of_frames=1))).hexdigest())
    return digests


def check_frames(target: Target, make_getter: Callable, digests: set[str]) -> None:
    """Every instance's frame 1 answers 200 with one part that is a stored frame: failures are not speed."""
    get, close = make_getter(target.port)
    try:
        for path in target.frame_paths:
            status, headers, body = get(path, frame_headers(target))
            if status != 200:
                raise AssertionError(f"{target.name} {path}: status {status}: {body[:300]!r}")
            parts = multipart_parts(headers.get("content-type", ""), body)
            if len(parts) != 1:
                raise AssertionError(f"{target.name} {path}: {len(parts)} parts, not 1")
            if hashlib.sha256(parts[0]).hexdigest() not in digests:
                raise AssertionError(f"{target.name} {path}: the part is not a stored frame ({len(parts[0])} bytes)")
    finally:
        close()


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) jiffies of all cores from /proc/stat: time the hypervisor gave to someone else."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return values[7], sum(values)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values lie (nearest rank)."""
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))]


def frame_load(target: Target, make_getter: Callable, clients: int, seconds: float) -> dict:
    """`clients` threads, each on its own connection looping over every instance's frame 1 for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures, finished = [0] * clients, [0.0] * clients
    start_box = [0.0]
    barrier = threading.Barrier(clients, action=lambda: start_box.__setitem__(0, time.perf_counter()))
    headers = frame_headers(target)
    paths = target.frame_paths

    def client(index: int) -> None:
        get, close = make_getter(target.port)
        position = index * len(paths) // clients  # spread the clients over the series
        get(paths[position], headers)  # connect before the clock starts
        barrier.wait()
        deadline = start_box[0] + seconds
        mine = latencies[index]
        while (sent := time.perf_counter()) < deadline:
            status, _, body = get(paths[position], headers)
            if status == 200 and body:
                mine.append(time.perf_counter() - sent)
            else:
                failures[index] += 1
            position = (position + 1) % len(paths)
        finished[index] = time.perf_counter()
        close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    spread: list[int] = []

    def sample_spread() -> None:
        # Keep-alive connections stay with the worker that accepted them: how evenly did they land?
        time.sleep(seconds / 2)
        spread.extend(target.connections_per_child())

    threads.append(threading.Thread(target=sample_spread, daemon=True))
    cpu_helpers = {name: measure() for name, measure in target.helper_cpu_seconds.items()}
    cpu_server, cpu_client = target.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF)
    ticks = cpu_ticks()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    steal, total = (after - before for after, before in zip(cpu_ticks(), ticks, strict=True))
    cpu_server = target.cpu_seconds() - cpu_server
    cpu_helpers = {name: measure() - cpu_helpers[name] for name, measure in target.helper_cpu_seconds.items()}
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_client = after.ru_utime + after.ru_stime - cpu_client.ru_utime - cpu_client.ru_stime
    done = sorted(latency for mine in latencies for latency in mine)
    if not done:
        raise AssertionError(f"{target.name}: no frame answered at {clients} clients ({sum(failures)} failed)")
    elapsed = max(finished) - start_box[0]
    cores_busy = (cpu_server + sum(cpu_helpers.values()) + cpu_client) / elapsed
    return {
        "frames": len(done), "failures": sum(failures), "per_s": len(done) / elapsed,
        "p50": 1000 * percentile(done, 0.5), "p99": 1000 * percentile(done, 0.99),
        "server_cpu_ms": 1000 * cpu_server / len(done), "client_cpu_ms": 1000 * cpu_client / len(done),
        "cores_busy": cores_busy, "spread": spread, "steal": 100 * steal / max(1, total),
        "helper_cpu_ms": {name: 1000 * spent / len(done) for name, spent in cpu_helpers.items()},
    }  # fmt: skip


def metadata_timing(target: Target, make_getter: Callable, warm_ups: int = 3, requests: int = 50) -> dict:
    """Sequential series metadata requests on one connection, after warm-ups (caches filled, files in memory)."""
    get, close = make_getter(target.port)
    headers = target.headers | {"Accept": "application/dicom+json", "Accept-Encoding": "identity"}
    timings, size, count = [], 0, 0
    try:
        for number in range(warm_ups + requests):
            sent = time.perf_counter()
            status, _, body = get(target.metadata_path, headers)
            took = time.perf_counter() - sent
            if status != 200:
                raise AssertionError(f"{target.name} metadata: status {status}: {body[:300]!r}")
            if number >= warm_ups:
                timings.append(took)
            size, count = len(body), len(json.loads(body))
    finally:
        close()
    timings.sort()
    return {"p50": 1000 * percentile(timings, 0.5), "p99": 1000 * percentile(timings, 0.99), "bytes": size,
            "instances": count}  # fmt: skip


def warm_up(target: Target, make_getter: Callable) -> None:
    """One pass over the series from 32 connections: every gunicorn thread has its database connection and
    views loaded, Orthanc's storage cache and the page cache hold the files, before anything is timed."""
    frame_load(target, make_getter, max(CONCURRENCY), 2.0)


# ---------------------------------------------------------------- report


def cpu_description() -> str:
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in cpu.splitlines() if line.startswith("Flags")), [])
    wanted = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx512f", "avx2"))
    return f"{model}; {os.cpu_count()} cores; {wanted}"


def report(targets: list[Target], args: argparse.Namespace) -> None:
    ours, orthanc = targets
    print()
    print(
        f"CPU: {cpu_description()}; load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"(at the start: {args.load_at_start}): other work on the machine shows up in both servers' figures"
    )
    print(f"The servers and the load client ({args.client}, one thread per client, one process) share these "
          f"{os.cpu_count()} cores. 'busy' is the cores the measured processes kept busy (server + PG + relay + "
          "client CPU over the wall time): near the core count the point is CPU-bound; the client's own share is "
          "its column. 'steal': the share of the cores' time the hypervisor gave to other guests (noise).")  # fmt: skip
    print(f"ours: gunicorn {args.web_workers} workers x {args.web_threads} threads, PostgreSQL (reached through "
          "a Unix-socket relay into the benchmark's network namespace), Redis; Orthanc 1.10 + DICOMweb plugin "
          "(SQLite index, defaults otherwise).")  # fmt: skip
    lookup_seconds = os.environ.get("DICOMWEB_FRAME_LOOKUP_SECONDS", "5 (the default)")
    print(f"ours: a frame lookup is reused by a worker for DICOMWEB_FRAME_LOOKUP_SECONDS = {lookup_seconds} s; "
          "each frame here comes back within that, so set 0 to see every frame pay its database query.")  # fmt: skip
    print(f"Frame GET, frame 1 of each of {len(ours.frame_paths)} instances, stored JPEG lossless, "
          f"{args.seconds:g} s per point:")  # fmt: skip
    print("  CPU ms/frame: server = its own processes (Orthanc's SQLite index is inside them); PG = PostgreSQL's "
          "backends and relay = the Unix-socket relay to it (ours only); client = the load generator")  # fmt: skip
    heading = ["server".ljust(8), "clients", " frames/s", " p50 ms", " p99 ms", "failed", "CPU ms/frame: server"]
    print("  " + " ".join([*heading, "   PG", "relay", "client", " busy", "steal"]))
    for clients in CONCURRENCY:
        for target in targets:
            r = target.results[clients]
            helpers = [r["helper_cpu_ms"].get(name) for name in ("PG", "relay")]
            pg, relay = ("-" if value is None else f"{value:.2f}" for value in helpers)
            figures = f"{r['per_s']:9.1f} {r['p50']:7.1f} {r['p99']:7.1f} {r['failures']:6d}"
            cpu = f"{r['server_cpu_ms']:20.2f} {pg:>5s} {relay:>5s} {r['client_cpu_ms']:6.2f} {r['cores_busy']:5.2f}"
            cpu += f" {r['steal']:4.0f}%"
            print(f"  {target.name:8s} {clients:7d} {figures} {cpu}")
    ratios = [f"{c} client{'s' if c > 1 else ''} {ours.results[c]['per_s'] / orthanc.results[c]['per_s']:.2f}"
              for c in CONCURRENCY]  # fmt: skip
    print(f"Ratio ours / Orthanc, frames/s: {', '.join(ratios)}")
    spreads = [f"{c} clients {ours.results[c]['spread']}" for c in CONCURRENCY if c > 1]
    print(f"Client connections held by each gunicorn worker half-way through (keep-alive connections stay with the "
          f"worker that accepted them): {', '.join(spreads)}")  # fmt: skip
    print(
        "Series metadata (WADO-RS .../metadata), 50 sequential requests after 3 warm-ups, one connection (ours: "
        "built once, cached; Orthanc: the plugin's default 'Full' mode, built from every stored file each time):"
    )
    for target in targets:
        m = target.metadata
        print(f"  {target.name:8s} p50 {m['p50']:7.1f} ms  p99 {m['p99']:7.1f} ms  ({m['instances']} instances, "
              f"{m['bytes'] / 1e6:.2f} MB)")  # fmt: skip
    verdict = "met" if ours.metadata["p50"] <= METADATA_TARGET_P50_MS else "NOT met"
    print(f"  target ours p50 <= {METADATA_TARGET_P50_MS:g} ms: {verdict}")


# ---------------------------------------------------------------- main


def benchmark(args: argparse.Namespace, admin_url: str) -> int:
    if not RICORD.is_dir():
        print(f"no real data at {RICORD} (set ILD_SHARED_DATA)", file=sys.stderr)
        return 2
    if orthanc_binary() is None or dicomweb_plugin() is None:
        print(f"Orthanc and its DICOMweb plugin are needed: {ORTHANC_INSTALL}", file=sys.stderr)
        return 2
    if "UP" not in subprocess.run(["ip", "-o", "link", "show", "lo"], capture_output=True, text=True).stdout:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)  # a new namespace's lo starts down
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    admin_url, database_url = database_urls(admin_url)
    fresh_database(admin_url)
    scratch = Path(tempfile.mkdtemp(prefix="ild-bench-dicomweb-"))
    sys.path.insert(0, str(REPO_ROOT))
    from ildplatform import embedded

    redis_port, web_port, orthanc_port, orthanc_dicom_port = (embedded.free_port() for _ in range(4))
    processes: list[subprocess.Popen] = []
    try:
        processes.append(embedded.start_redis(redis_port, scratch / "redis"))
        env = os.environ | {
            "DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "ILD_VAR_DIR": str(scratch), "MEDIA_ROOT": str(scratch / "media"),
            "DJANGO_SETTINGS_MODULE": "ildplatform.settings", "LOG_LEVEL": "WARNING",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        }  # fmt: skip
        os.environ.update(env)
        (scratch / "staticfiles").mkdir()  # nothing static is served here; silences whitenoise's warning
        import django

        django.setup()
        study, series, sops, token = import_ours()
        from django.db import connections

        connections.close_all()  # the import's connection is not needed while the servers are measured
        processes.append(embedded.start_web(env, "127.0.0.1", web_port, workers=args.web_workers,
                                            threads=args.web_threads, access_log=False))  # fmt: skip
        ours = Target(
            "ours", web_port,
            [f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames/1" for sop in sops],
            f"/dicomweb/studies/{study}/series/{series}/metadata", {"Authorization": f"Token {token}"}, processes[-1],
            helper_cpu_seconds={"PG": postgres_cpu_seconds}
            | ({"relay": relay_cpu_seconds} if os.environ.get(INNER_ENV) else {}),
        )  # fmt: skip
        processes.append(start_orthanc(scratch, orthanc_port, orthanc_dicom_port))
        o_study, o_series, o_sops = upload_to_orthanc(orthanc_port)
        orthanc = Target(
            "Orthanc", orthanc_port,
            [f"/dicom-web/studies/{o_study}/series/{o_series}/instances/{sop}/frames/1" for sop in o_sops],
            f"/dicom-web/studies/{o_study}/series/{o_series}/metadata", {}, processes[-1],
        )  # fmt: skip
        targets = [ours, orthanc]
        make_getter = CLIENTS[args.client]
        digests = stored_frame_digests()
        for target in targets:
            check_frames(target, make_getter, digests)
            warm_up(target, make_getter)
        print(f"checked: every frame answer of both servers is 200, one part, the stored frame; "
              f"{args.seconds:g} s per point...")  # fmt: skip
        for clients in CONCURRENCY:
            for target in targets:
                target.results[clients] = frame_load(target, make_getter, clients, args.seconds)
        for target in targets:
            target.metadata = metadata_timing(target, make_getter)
        report(targets, args)
    finally:
        embedded.stop(processes)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each frame-load point")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--client", choices=sorted(CLIENTS), default="http.client",
                        help="load client: http.client (lighter, default) or requests.Session")  # fmt: skip
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgres://ild:ild@127.0.0.1:5432/ild")
    if not in_private_network():
        return reexecute_in_private_network(admin_url)
    try:
        return benchmark(args, admin_url)
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
