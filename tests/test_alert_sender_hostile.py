"""Hostile answers to a notification, through the real sender (a child process, the real Apprise)
to real HTTP servers on 127.0.0.1: a redirect is not followed (the host it names gets nothing, not
the URL's secret header either) and counts failed; a message taken (200) with a huge answer counts
delivered once, never failed and sent again."""
import http.server
import json
import subprocess
import sys
import threading

from dashboard.alerts.delivery import Notifier, apprise_send
from dashboard.alerts.rules import parse_config
from tests.helpers import ROOT
from tests.test_alert_delivery import _Event

ALERT = {"id": "a1", "key": "device_bad/d1", "rule": "device_bad", "subject": "d1",
         "device_type": "qemu", "severity": "warning", "message": "d1 has been Bad",
         "notifications": 1}
REDIRECTS = (301, 302, 303, 307, 308)
HUGE = 300 << 20  # bytes of the huge answer, sent lazily: more than the child's 256 MiB




class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(answer):
    """An HTTP server on 127.0.0.1 whose POSTs `answer(handler)` answers. Returns (server, what it
    received: [(path, headers)])."""
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, dict(self.headers)))
            try:
                answer(self)
            except OSError:  # the sender closed the connection: it read what it wanted
                pass

        do_GET = do_PUT = do_POST

        def log_message(self, *args):
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def notifier_for(urls):
    config = parse_config("[notify]\nurls = [" + ", ".join(json.dumps(u) for u in urls) + "]\n")
    return Notifier(config, lambda fn, *a: fn(*a), lambda s: None, _Event, clock=lambda: 1000.0,
                    send=apprise_send)


def in_a_process_of_its_own(name):
    """Run `name` of this file in a process of its own: a test file before this one in the same
    worker may have monkey-patched threading (eventlet), under which the servers' threads never
    run."""
    result = subprocess.run([sys.executable, "-c", f"from tests.test_alert_sender_hostile import "
                             f"{name}; {name}()"], cwd=str(ROOT), capture_output=True, text=True,
                            timeout=90)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def test_a_redirect_is_not_followed_and_counts_failed():
    in_a_process_of_its_own("redirect_is_not_followed")


def redirect_is_not_followed():
    other, elsewhere = serve(lambda h: (h.send_response(200), h.send_header("Content-Length", "0"),
                                        h.end_headers()))
    other_port = other.server_address[1]

    def redirect(handler):
        code = int(handler.path.rsplit("/", 1)[1].partition("?")[0])
        handler.send_response(code)
        # Another host: the name localhost, not the address the URL names.
        handler.send_header("Location", f"http://localhost:{other_port}/elsewhere")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    hook, received = serve(redirect)
    port = hook.server_address[1]
    urls = [f"json://user:pwSeCrEt1@127.0.0.1:{port}/hook/{code}?+X-Api-Key=hdrSeCrEt4"
            for code in REDIRECTS]
    try:
        notifier = notifier_for(urls)
        assert notifier.submit(dict(ALERT), "fired")
        assert notifier.deliver(notifier.pending[0]) is False
        assert sorted(path.split("?")[0] for path, _ in received) == [f"/hook/{c}" for c in REDIRECTS]
        assert all(h.get("X-Api-Key") == "hdrSeCrEt4" for _, h in received)  # it went there only
        assert elsewhere == []
        assert notifier.counts["failed"] == 1 and notifier.counts["delivered"] == 0
        assert notifier.pending[0][4] == urls  # each is to be tried again
        error = notifier.last_error
        assert error.startswith("5 of its destinations did not take the notification: "), error
        assert "redirect not followed (to localhost)" in error, error
        assert "SeCrEt" not in error
    finally:
        for server in (hook, other):
            server.shutdown()
            server.server_close()


def test_a_huge_answer_to_a_message_taken_counts_delivered_once():
    in_a_process_of_its_own("huge_answer_counts_delivered_once")


def huge_answer_counts_delivered_once():
    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(HUGE))
        handler.end_headers()
        chunk = b"x" * (1 << 20)
        for _ in range(HUGE >> 20):
            handler.wfile.write(chunk)

    hook, received = serve(huge)
    try:
        notifier = notifier_for([f"json://127.0.0.1:{hook.server_address[1]}/hook"])
        assert notifier.submit(dict(ALERT), "fired")
        for _ in range(3):  # what the notifier would do: try again while it is pending
            if not notifier.pending:
                break
            notifier.deliver(notifier.pending[0])
        assert len(received) == 1, (len(received), notifier.stats())
        assert notifier.counts["delivered"] == 1 and notifier.counts["failed"] == 0, notifier.stats()
        assert notifier.pending == []
    finally:
        hook.shutdown()
        hook.server_close()
