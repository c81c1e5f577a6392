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
        # None, "slow", "500", "badjson", "badshape", "deep", "auth", "redirect", "echo"
        self.fault = None
        # Viewers other than the dashboard's own (superuser) token: token → (username, groups).
        self.users = {}
        # Private jobs: id → None (the submitter alone, and superusers) or the viewing groups.
        self.private = {}
        # Devices LAVA lists to superusers only (its device permissions: a viewing group's), and
        # the jobs on them (device_shown).
        self.hidden_devices = set()
        self.refuse_anonymous = False  # a LAVA that answers nobody without a token (403)
        # Job logs (output.yaml): id → its lines, as LAVA's /jobs/<id>/logs/ serves them.
        self.logs = {}
        self.log_end_ignored = False  # True: a log answer runs to the log's end whatever `end` says
        self.redirect_to = None
        self.delay = 0.0
        self.answering = threading.Event()  # cleared by hold(): answers wait until release()
        self.answering.set()
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
        self.answering.set()  # let held requests go, so that shutting down does not wait for them
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
        self.answering.wait(60)
        if self.delay:
            time.sleep(self.delay)
        return self.route(request)(environ, start_response)

    def route(self, req):
        if self.fault == "maintenance":  # a maintenance page for every path, XML-RPC's too
            return Response("<html>LAVA is down for maintenance</html>", 200, content_type="text/html")
        if self.fault == "busy":  # a proxy's rate limit, every path
            return Response("slow down", 429, content_type="text/plain")
        if req.path == "/RPC2" and self.fault == "500":  # the same Django: its XML-RPC fails too
            return Response(self.error_page, 500, content_type="text/html; charset=utf-8")
        if self.fault == "redirect" and self.redirect_to:  # e.g. a proxy sending us to a login host
            return Response("", 302, headers={"Location": self.redirect_to + req.full_path})
        if req.path == "/RPC2":
            return self.xmlrpc(req)
        viewer = self.viewer(req.headers.get("Authorization"))
        if viewer is None:
            return _json({"detail": "Invalid token."}, 401)
        if self.fault == "auth" or (self.refuse_anonymous and not viewer[0]):
            return _json({"detail": "You do not have permission to perform this action."}, 403)
        if self.fault == "500":
            return Response(self.error_page, 500, content_type="text/html; charset=utf-8")
        if self.fault == "badjson":
            return Response("<html>maintenance</html>", 200, content_type="text/html")
        if self.fault == "badshape":
            return _json({"count": 1, "next": None, "results": "surprise"})
        if self.fault == "echo":  # a LAVA that quotes what it was sent in a field
            token = req.headers.get("Authorization", "").partition(" ")[2]
            return _json({"count": 1, "next": None, "results": [
                {"hostname": "echo-01", "device_type": "qemu", "state": f"Idle {token}",
                 "health": "Good", "worker_host": None}]})
        if self.fault == "deep":  # nesting that json.loads could not parse without RecursionError
            return Response('{"count": 1, "next": null, "results": [' + "[" * 5000 + "]" * 5000
                            + "]}", 200, content_type="application/json")
        path, q = req.path, req.args
        if path == f"{API}/system/whoami/":
            return _json({"user": viewer[0]})
        if path == f"{API}/system/master_config/":
            return _json({"EVENT_TOPIC": "org.lavasoftware", "EVENT_SOCKET": self.event_socket,
                          "EVENT_NOTIFICATION": True, "LOG_SIZE_LIMIT": 5})
        if path == f"{API}/system/version/":
            return _json({"version": "2023.01"})
        if path == f"{API}/devices/":
            items = [d for d in self.devices if (q.get("all") == "1" or d["health"] != "Retired")
                     and (viewer[2] or d["hostname"] not in self.hidden_devices)]
            return self.page(req, items)
        if path == f"{API}/workers/":
            return self.page(req, self.workers)
        if path == f"{API}/jobs/":
            return self.jobs_list(req, viewer)
        if path.startswith(f"{API}/jobs/") and path.endswith("/logs/") and path.count("/") == 6:
            return self.job_log(path.split("/")[4], q, viewer)
        if path.startswith(f"{API}/jobs/") and path.count("/") == 5:
            job_id = path.rstrip("/").rsplit("/", 1)[1]
            for job in self.jobs:
                if str(job["id"]) == job_id and self.can_view(viewer, job):
                    return _json(job)
            return _json({"detail": "Not found."}, 404)
        return _json({"detail": "Not found."}, 404)

    def job_log(self, job_id, q, viewer):
        """LAVA's read_logs: lines [start, end) of output.yaml; 404 when there is none (or the job
        is not shown to this viewer)."""
        job = next((j for j in self.jobs if str(j["id"]) == job_id), None)
        if job is None or not self.can_view(viewer, job):
            return _json({"detail": "Not found."}, 404)
        start = int(q.get("start", 0) or 0)
        end = int(q["end"]) if q.get("end") and not self.log_end_ignored else None
        lines = self.logs.get(job["id"], [])[start:end]
        if not lines:
            return _json({"detail": "Not found."}, 404)
        return Response("".join(line + "\n" for line in lines), 200,
                        content_type="application/yaml")

    def viewer(self, authorization):
        """(username, groups, superuser) of a request; ("", (), False) when anonymous; None when
        the token is not known (LAVA answers 401)."""
        if not authorization:
            return ("", (), False)
        token = authorization.partition(" ")[2]
        if self.token and token == self.token:
            return ("admin", (), True)
        if token in self.users:
            name, groups = self.users[token]
            return (name, tuple(groups), False)
        return None if self.token or self.users else ("", (), False)

    def can_view(self, viewer, job):
        """LAVA's TestJob.can_view: superusers, public jobs, the submitter, the viewing groups."""
        name, groups, superuser = viewer
        if superuser:
            return True
        if self.hidden_devices and not self.device_shown(job):  # (before its own permissions)
            return False
        if job["id"] not in self.private:
            return True
        if name and name == job["submitter"]:
            return True
        allowed = self.private[job["id"]]
        return bool(allowed) and any(g in allowed for g in groups)

    def device_shown(self, job):
        """LAVA hides a job on a device its viewer may not see, and one not scheduled yet that asks
        for a device type they may not see (here: every device of that type hidden)."""
        if job.get("actual_device"):
            return job["actual_device"] not in self.hidden_devices
        return any(d["device_type"] == job.get("requested_device_type")
                   and d["hostname"] not in self.hidden_devices for d in self.devices)

    def jobs_list(self, req, viewer=("admin", (), True)):
        items = [j for j in self.jobs if self.can_view(viewer, j)]
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
    def hold(self):
        """Keep every answer waiting until release(): a fetch that has begun surely lasts."""
        self.answering.clear()

    def release(self):
        """Answer the requests held by hold(), and the next ones at once."""
        self.answering.set()

    def device(self, hostname):
        return next(d for d in self.devices if d["hostname"] == hostname)

    def job(self, job_id):
        return next(j for j in self.jobs if j["id"] == job_id)

    def close(self):
        self.stop()


def _json(body, status=200):
    return Response(json.dumps(body), status, content_type="application/json")
