"""Where events come from. A source has `status` (a health.SourceStatus) and `run(handle)`, which
calls `handle(status, frames)` for every multipart message and never returns while the app runs."""
