"""Measurement apart from the runtime: benchmarks (``bench``), the cost at scale
(``bench_scale``), the demo's kernel runner (``demo``), the feature-combination grid
(``experiment``) and scripts run by hand (``python -m hms_kit.tools.<name>``).

These import the runtime; nothing the kernels import imports them (the CLI does, lazily,
inside its commands; tests/test_imports.py checks the direction)."""
