"""The benchmark suite (bench/): a smoke run so that a broken bench fails the test suite."""
