"""Development tools shared by the tests and the benchmarks; part of neither, and not shipped with the app."""
