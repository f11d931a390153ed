"""The fence around faust-streaming internals: the only code that copies faust's source or touches
its private names (ruff's SLF rule is off only here; ``tests/unit/test_faust_compat.py`` checks the
copied upstream sources and that no other module imports a private faust name). See UPSTREAM.md.

- ``consumer``: the batch readings path's consumer (a modified copy of ``Consumer._drain_messages``).
- ``internals``: typed wrappers for the private names the agents need.
- ``upstream``: the faust version and upstream source hashes the fence was written against.
"""
