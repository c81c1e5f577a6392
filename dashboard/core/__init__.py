"""PURE: frames → events, the live model, filters, REST records → model records, statistics.

No I/O, no clocks that cannot be passed in, no globals; imports nothing of ours outside core/."""
