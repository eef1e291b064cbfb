"""The format fuzzer behind ``python -m benchmarks.fuzz_formats``: seeds, mutations, cases, runner."""
