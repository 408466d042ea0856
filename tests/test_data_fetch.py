"""`afunet data fetch` against a local HTTP server: deadline, truncation, size, no https downgrade.

Every server here is started by the test on 127.0.0.1 and stopped at its end; nothing else is
contacted. Each failure must be one error line that says why, and leave nothing in the root.
"""

import ssl
import tarfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from afunet.cli import main
from afunet.data import store


class Handler(BaseHTTPRequestHandler):
    """Serves `server.routes[path](handler)`; each route writes a bounded response."""

    timeout = 5  # a stuck client cannot hold a handler thread for long

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1; set `.routes`, read `.url` and `.requests`."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.routes, httpd.requests, httpd.stop = {}, [], threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def headers(h: BaseHTTPRequestHandler, length: int | None) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/x-tar")
    if length is not None:
        h.send_header("Content-Length", str(length))
    h.end_headers()


def fetch_cli(root: Path, capsys) -> tuple[int, str]:
    code = main(["data", "fetch", "stare", "--data-dir", str(root)])
    return code, capsys.readouterr().err


def assert_one_line_and_nothing_left(err: str, root: Path) -> None:
    last = err.rstrip("\n").split("\n")[-1]  # after the progress bar, if one was shown
    assert last.startswith("afunet: error: ") and err.count("afunet: error") == 1
    assert "afunet data import stare stare-images.tar labels-ah.tar labels-vk.tar" in err
    assert not root.exists() or list(root.iterdir()) == []  # no partial file, no staging


def test_trickling_server_hits_the_deadline(tmp_path, capsys, server, monkeypatch):
    def trickle(h):
        headers(h, 10_000)
        for _ in range(200):  # bounded: ends by itself even if the client never gives up
            if h.server.stop.is_set():
                return
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.05)

    server.routes["/stare-images.tar"] = trickle
    monkeypatch.setattr(store, "STARE_URLS", [server.url + "/stare-images.tar"])
    monkeypatch.setenv("AFUNET_FETCH_DEADLINE", "1.5")
    root = tmp_path / "root"
    start = time.monotonic()
    code, err = fetch_cli(root, capsys)
    assert code == 1 and time.monotonic() - start < 10
    assert "did not finish within 1.5 s" in err and "AFUNET_FETCH_DEADLINE=SECONDS" in err
    assert "the partial file was removed" in err
    assert_one_line_and_nothing_left(err, root)


def test_truncated_download_is_refused(tmp_path, capsys, server, monkeypatch):
    def cut(h):
        headers(h, 1000)
        h.wfile.write(b"x" * 500)
        h.close_connection = True

    server.routes["/stare-images.tar"] = cut
    monkeypatch.setattr(store, "STARE_URLS", [server.url + "/stare-images.tar"])
    root = tmp_path / "root"
    code, err = fetch_cli(root, capsys)
    assert code == 1 and "was cut off: got 500 of the 1000 bytes" in err
    assert "Cannot unpack" not in err  # refused before unpacking
    assert_one_line_and_nothing_left(err, root)


@pytest.mark.parametrize("announced", [True, False])
def test_oversized_download_is_refused(tmp_path, capsys, server, monkeypatch, announced):
    def big(h):
        headers(h, 5000 if announced else None)
        h.wfile.write(b"x" * 5000)

    server.routes["/stare-images.tar"] = big
    monkeypatch.setattr(store, "STARE_URLS", [server.url + "/stare-images.tar"])
    monkeypatch.setattr(store, "MAX_DOWNLOAD", 1000)
    root = tmp_path / "root"
    code, err = fetch_cli(root, capsys)
    assert code == 1 and "more than the 1000" in err and "not the expected file" in err
    assert_one_line_and_nothing_left(err, root)


def test_http_error_says_what_the_server_answered(tmp_path, capsys, server, monkeypatch):
    monkeypatch.setattr(store, "STARE_URLS", [server.url + "/missing.tar"])
    root = tmp_path / "root"
    code, err = fetch_cli(root, capsys)
    assert code == 1 and "the server answered HTTP 404" in err
    assert_one_line_and_nothing_left(err, root)


def test_certificate_error_is_never_retried_over_http(tmp_path, capsys, monkeypatch):
    calls = []

    def https_open(self, req):
        calls.append(req.full_url)
        raise urllib.error.URLError(
            ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
        )

    def http_open(self, req):
        calls.append(req.full_url)
        raise AssertionError("no http request may be made")

    monkeypatch.setattr(urllib.request.HTTPSHandler, "https_open", https_open)
    monkeypatch.setattr(urllib.request.HTTPHandler, "http_open", http_open)
    monkeypatch.setattr(store, "STARE_URLS", ["https://127.0.0.1:9/stare-images.tar"])
    root = tmp_path / "root"
    code, err = fetch_cli(root, capsys)
    assert calls == ["https://127.0.0.1:9/stare-images.tar"]
    assert code == 1 and "certificate verification failed" in err
    assert "does not fall back to unencrypted http" in err
    assert_one_line_and_nothing_left(err, root)


def test_redirect_from_https_to_http_is_refused():
    handler = store._NoDowngrade()
    req = urllib.request.Request("https://127.0.0.1:9/stare-images.tar")
    with pytest.raises(urllib.error.URLError, match="not https"):
        handler.redirect_request(req, None, 302, "Found", {}, "http://127.0.0.1:9/x.tar")
    assert handler.redirect_request(req, None, 302, "Found", {}, "https://127.0.0.1:9/y.tar")


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan"])
def test_bad_deadline_setting_is_named(tmp_path, capsys, monkeypatch, value):
    monkeypatch.setenv("AFUNET_FETCH_DEADLINE", value)
    monkeypatch.setattr(store, "STARE_URLS", ["http://127.0.0.1:9/never-used.tar"])
    root = tmp_path / "root"
    code, err = fetch_cli(root, capsys)
    assert code == 1 and f"AFUNET_FETCH_DEADLINE={value!r} is not a positive number" in err
    assert err.count("\n") == 1 and not root.exists()


def test_fetch_over_http_from_a_local_mirror(tmp_path, capsys, server, monkeypatch, data_root):
    blobs = {}
    for sub in ("stare-images", "labels-ah", "labels-vk"):
        archive = tmp_path / f"{sub}.tar"
        with tarfile.open(archive, "w") as tf:
            tf.add(data_root / "STARE" / sub, sub)
        blobs[f"/{sub}.tar"] = archive.read_bytes()

    def serve(h):
        body = blobs[h.path]
        headers(h, len(body))
        h.wfile.write(body)

    server.routes.update(dict.fromkeys(blobs, serve))
    monkeypatch.setattr(store, "STARE_URLS", [server.url + p for p in blobs])
    root = tmp_path / "root"
    assert main(["data", "fetch", "stare", "--data-dir", str(root)]) == 0
    assert "fetched and verified" in capsys.readouterr().out
    assert sorted(p.name for p in root.iterdir()) == ["STARE"]  # downloads and staging gone
    assert sorted(server.requests) == sorted(blobs)
    assert store.verify("stare", root) == []
