"""HTTP: blueprints (state and health, history, feeds, OpenAPI, the page) and their parameters."""
