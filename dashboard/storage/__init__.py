"""The event store (SQLite, PostgreSQL) and its keeper."""
