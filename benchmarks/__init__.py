"""cloudperf benchmarks: each module compares against a baseline in the same run."""
