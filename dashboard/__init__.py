"""LAVA Live Dashboard: create_app(settings) wires settings → extensions → blueprints → tasks."""
import logging

from flask import Flask
from flask_socketio import SocketIO

from dashboard import api, config, views
from dashboard.health import Health
from dashboard.ingest import Ingest
from dashboard.relay import Relay
from dashboard.state import LabState

__version__ = "0.1.0"
log = logging.getLogger("dashboard")

socketio = SocketIO()


class NoWebSocketCompression:
    """WSGI middleware that removes the client's offer of permessage-deflate.

    eventlet compresses every frame for every connection separately, with no option to turn it off;
    measured, that doubled CPU per delivery (docs/performance.md).
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return self.wsgi_app(environ, start_response)


def create_app(overrides=None, settings=None):
    """Build the Flask app from settings (config.load() by default, then `overrides`)."""
    settings = dict(settings or config.load([], overrides=overrides))
    logging.basicConfig(level=settings["log_level"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Flask(__name__, static_folder="../static", template_folder="../templates")
    app.config["DASHBOARD"] = settings
    app.json.sort_keys = False

    socketio.init_app(app, async_mode=settings["async_mode"], logger=False, engineio_logger=False)
    if not settings["ws_compression"]:
        app.wsgi_app = NoWebSocketCompression(app.wsgi_app)

    simulated = not settings["zmq"]
    meta = {"simulated": simulated, "lava_url": settings["lava_url"].rstrip("/"),
            "version": __version__}
    state = LabState(max_finished_jobs=settings["max_finished_jobs"])
    health = Health()
    relay = Relay(socketio, state, meta, interval=settings["batch_interval"],
                  max_pending=settings["max_pending_changes"], mode=settings["relay_mode"])
    ingest = Ingest(state, relay, health, settings["max_message_size"])
    app.extensions["dashboard"] = {"state": state, "health": health, "relay": relay,
                                   "ingest": ingest, "meta": meta, "settings": settings,
                                   "sources": []}
    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    return app


def start_background_tasks(app):
    """Start the relay's flush loop, the simulated lab if no source is set, and the sources."""
    from dashboard import green
    from dashboard.sources.zmq import ZmqSource

    ext = app.extensions["dashboard"]
    settings = ext["settings"]
    zmq = green.zmq_module(settings["async_mode"])
    socketio.start_background_task(ext["relay"].run)
    endpoints = list(settings["zmq"])
    if not endpoints:
        endpoints.append(_start_simulated_lab(settings, zmq))
    for endpoint in endpoints:
        status = ext["health"].add_source(endpoint, "zmq")
        source = ZmqSource(endpoint, settings["topic_prefix"], zmq, socketio.sleep,
                           socketio.start_background_task, status, settings["max_message_size"])
        ext["sources"].append(source)
        socketio.start_background_task(source.run, ext["ingest"].handle)
        log.info("subscribed to lava-publisher at %s (topic prefix %r)", endpoint,
                 settings["topic_prefix"])


def _start_simulated_lab(settings, zmq):
    import datetime as dt
    import random

    from dashboard.simulator import Publisher, SimLab

    seed = settings["sim_seed"] or random.SystemRandom().randrange(1, 2**31)
    lab = SimLab(random.Random(seed), n_devices=settings["sim_devices"],
                 start=dt.datetime.now(dt.timezone.utc))
    publisher = Publisher(lab, "tcp://127.0.0.1:*", zmq, socketio.sleep, speed=settings["sim_speed"])
    socketio.start_background_task(publisher.run)
    log.warning("no --zmq endpoint given: running on a SIMULATED lab (%d devices, seed %d) "
                "published at %s", settings["sim_devices"], seed, publisher.endpoint)
    return publisher.endpoint
