"""Alerts: rules over the model's changes (rules.py, lifecycle.py: pure), and their delivery
(engine.py: the sink wrapper and the slow timer; delivery.py: Apprise, off the green hub)."""
