# provtrace-bench smoke run: the benchmark must always build and run to the
# end (every method, including the provtrace ones, must succeed).  Its targets
# are reported, not enforced: a benchmark's numbers are not a pass/fail test.
if(TARGET provtrace-bench)
  add_test(NAME bench_events_quick COMMAND provtrace-bench events --quick)
  set_tests_properties(bench_events_quick PROPERTIES LABELS "bench" TIMEOUT 300)
  # A usage error is reported with exit code 2, not run as a benchmark.
  add_test(NAME bench_events_bad_option COMMAND provtrace-bench events --events 0)
  set_tests_properties(bench_events_bad_option PROPERTIES LABELS "bench" WILL_FAIL TRUE)
endif()
