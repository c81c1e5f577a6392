"""Run the dashboard: python app.py --help lists every setting."""
import sys


def main(argv=None):
    """Parse settings, monkey-patch for the async mode, then create and run the app."""
    from dashboard import config  # standard library only: safe before monkey-patching

    try:
        settings = config.load(sys.argv[1:] if argv is None else argv)
    except config.ConfigError as exc:
        sys.exit(f"app.py: error: {exc}")
    from dashboard import green

    green.monkey_patch(settings["async_mode"])
    from dashboard import server

    try:  # first: a port in use (another dashboard's) fails the start before anything else starts
        listener = server.bind(settings["host"], settings["port"])
    except server.ListenError as exc:
        sys.exit(f"app.py: error: --host/--port: {exc}")
    import dashboard

    try:
        app = dashboard.create_app(settings=settings)
        dashboard.start_background_tasks(app)
    except config.ConfigError as exc:
        sys.exit(f"app.py: error: {exc}")
    from dashboard.live import gcpause

    gcpause.freeze_after_start()  # full collections then walk only what came after start-up
    dashboard.log.info("serving on http://%s/ (async mode %s)",
                       server.address_text(settings["host"], settings["port"]),
                       settings["async_mode"])
    # SIGTERM (systemd, a Procfile runner, the tests) and Ctrl-C flush the store, then exit
    # within --shutdown-timeout whatever clients do (dashboard/server.py).
    server.serve(app, dashboard.socketio.start_background_task, settings,
                 on_exit=lambda: dashboard.shutdown(app), listener=listener)


if __name__ == "__main__":
    main()
