"""psabot benchmarks: `python -m bench.run [--quick]`; numbers go to docs/benchmarks.md."""
