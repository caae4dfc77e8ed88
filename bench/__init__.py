"""`make bench`: each route's latency measured against the floor of its unavoidable work.

Not tests: timing lives here, never in tests/. Run it as `python -m bench.run`.
"""
