"""A webhook receiver in a process of its own (`python -m tests.webhook PORT FILE [--tls CERT KEY]`): each JSON
body POSTed to it is answered 200 and appended to FILE, one line each. In its own process, not a
thread of the test's: a test process that another test file left with a green (monkey-patched)
threading module never ran a receiver thread, and the test waited on it for ever (its stop() in
particular: every test of a file failed at pytest-timeout's 300 s)."""
import http.server
import json
import sys


def main(port, path, cert=None, key=None):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with open(path, "a") as out:
                out.write(json.dumps(json.loads(body)) + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if cert:  # `--tls CERT KEY`: https:// with that certificate
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def hang(port, path, most=120.0):
    """`--hang`: answer 200 and then a byte a second, never ending the answer (for `most` seconds
    at most); each request taken is a line of FILE."""
    import socket
    import threading
    import time

    began = time.monotonic()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(8)

    def drip(conn):
        try:
            conn.settimeout(5)
            if not conn.recv(65536):  # a connection that sends nothing is no send (a probe)
                return
            with open(path, "a") as out:
                out.write("taken\n")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while time.monotonic() - began < most:
                conn.sendall(b"x")
                time.sleep(1.0)
        except OSError:  # the app killed its sending process
            pass
        finally:
            conn.close()

    while time.monotonic() - began < most:
        conn, _ = server.accept()
        threading.Thread(target=drip, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    if sys.argv[3:] == ["--hang"]:
        hang(int(sys.argv[1]), sys.argv[2])
    else:
        main(int(sys.argv[1]), sys.argv[2], *sys.argv[4:6] if sys.argv[3:4] == ["--tls"] else ())
