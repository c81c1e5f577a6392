"""The loops that move data: ingest, health, reconcile, relay, cluster."""
