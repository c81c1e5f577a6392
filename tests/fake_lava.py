"""A fake LAVA server for the tests: a real HTTP server on 127.0.0.1 serving the captured REST answers
(tests/fixtures/lava-2023.01/rest/) with real limit/offset pagination, token checking, LAVA's HTML 500
for a bad filter value, XML-RPC, and faults the tests switch on and off."""
import copy
import json
import logging
import threading
import time
import urllib.parse
import xmlrpc.client

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.fixtures import rest
from tests.helpers import free_port

API = "/api/v0.2"
JOB_STATES = ("Submitted", "Scheduling", "Scheduled", "Running", "Canceling", "Finished")


class FakeLava:
    """The fake server. Mutate .devices/.workers/.jobs to change LAVA's state without an event."""

    def __init__(self, token=None, event_socket="tcp://*:5500", port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.event_socket = event_socket
        self.devices = copy.deepcopy(rest("devices_all")["results"])
        self.workers = copy.deepcopy(rest("workers")["results"])
        self.jobs = copy.deepcopy(rest("jobs")["results"])
        self.error_page = rest("jobs_state_Bogus_error")["_non_json_error_body"]
        self.fault = None  # None, "slow", "500", "badjson", "badshape", "deep", "auth", "redirect"
        self.redirect_to = None
        self.delay = 0.0
        self.requests = []  # (path, query, Authorization header)
        self.lock = threading.Lock()
        self.server = None
        self.start()

    # -- server lifecycle --------------------------------------------------------------------
    def start(self):
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request drowns the output
        self.server = make_server("127.0.0.1", self.port, self.wsgi, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        """Go down: connections are refused until start()."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # -- WSGI --------------------------------------------------------------------------------
    def wsgi(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.requests.append((request.path, request.query_string.decode(),
                                  request.headers.get("Authorization")))
        if self.delay:
            time.sleep(self.delay)
        return self.route(request)(environ, start_response)

    def route(self, req):
        if req.path == "/RPC2":
            return self.xmlrpc(req)
        if self.fault == "redirect" and self.redirect_to:  # e.g. a proxy sending us to a login host
            return Response("", 302, headers={"Location": self.redirect_to + req.full_path})
        if self.token and req.headers.get("Authorization") != f"Token {self.token}":
            return _json({"detail": "Invalid token."}, 401)
        if self.fault == "auth":
            return _json({"detail": "You do not have permission to perform this action."}, 403)
        if self.fault == "500":
            return Response(self.error_page, 500, content_type="text/html; charset=utf-8")
        if self.fault == "badjson":
            return Response("<html>maintenance</html>", 200, content_type="text/html")
        if self.fault == "badshape":
            return _json({"count": 1, "next": None, "results": "surprise"})
        if self.fault == "deep":  # nesting that json.loads could not parse without RecursionError
            return Response('{"count": 1, "next": null, "results": [' + "[" * 5000 + "]" * 5000
                            + "]}", 200, content_type="application/json")
        path, q = req.path, req.args
        if path == f"{API}/system/master_config/":
            return _json({"EVENT_TOPIC": "org.lavasoftware", "EVENT_SOCKET": self.event_socket,
                          "EVENT_NOTIFICATION": True, "LOG_SIZE_LIMIT": 5})
        if path == f"{API}/system/version/":
            return _json({"version": "2023.01"})
        if path == f"{API}/devices/":
            items = [d for d in self.devices if q.get("all") == "1" or d["health"] != "Retired"]
            return self.page(req, items)
        if path == f"{API}/workers/":
            return self.page(req, self.workers)
        if path == f"{API}/jobs/":
            return self.jobs_list(req)
        if path.startswith(f"{API}/jobs/") and path.count("/") == 5:
            job_id = path.rstrip("/").rsplit("/", 1)[1]
            for job in self.jobs:
                if str(job["id"]) == job_id:
                    return _json(job)
            return _json({"detail": "Not found."}, 404)
        return _json({"detail": "Not found."}, 404)

    def jobs_list(self, req):
        items = list(self.jobs)
        states = req.args.get("state__in", req.args.get("state"))
        if states is not None:
            wanted = states.split(",")
            if any(s not in JOB_STATES for s in wanted):
                # What LAVA 2023.01 really does with a bad filter value.
                return Response(self.error_page, 500, content_type="text/html; charset=utf-8")
            items = [j for j in items if j["state"] in wanted]
        if req.args.get("ordering") == "-id":
            items.sort(key=lambda j: -j["id"])
        return self.page(req, items)

    def page(self, req, items):
        limit = int(req.args.get("limit", 50))
        offset = int(req.args.get("offset", 0))
        chunk = items[offset:offset + limit]
        nxt = None
        if offset + limit < len(items):
            query = dict(req.args.items(), limit=limit, offset=offset + limit)
            nxt = f"{req.host_url.rstrip('/')}{req.path}?{urllib.parse.urlencode(query)}"
        return _json({"count": len(items), "next": nxt, "previous": None, "results": chunk})

    def xmlrpc(self, req):
        params, method = xmlrpc.client.loads(req.get_data())
        if method == "scheduler.get_publisher_event_socket":
            body = xmlrpc.client.dumps((self.event_socket,), methodresponse=True)
        else:
            body = xmlrpc.client.dumps(xmlrpc.client.Fault(1, f"no method {method}"))
        return Response(body, 200, content_type="text/xml")

    # -- helpers for tests ------------------------------------------------------------------
    def device(self, hostname):
        return next(d for d in self.devices if d["hostname"] == hostname)

    def job(self, job_id):
        return next(j for j in self.jobs if j["id"] == job_id)

    def close(self):
        self.stop()


def _json(body, status=200):
    return Response(json.dumps(body), status, content_type="application/json")
