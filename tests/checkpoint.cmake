# Checkpoint benchmark smoke run (the cmocka tests are in test_checkpoint.c, which
# also drives `provtrace checkpoint` / `provtrace gc` and loads the .npy output in numpy).
if(TARGET provtrace-bench)
  add_test(NAME bench_checkpoint_quick
    COMMAND provtrace-bench checkpoint --quick --only provtrace,provtrace-async,raw)
  set_tests_properties(bench_checkpoint_quick PROPERTIES LABELS "bench" TIMEOUT 300)
  add_test(NAME bench_checkpoint_usage
    COMMAND sh -c "\"$0\" checkpoint --only nosuch; test $? -eq 2" $<TARGET_FILE:provtrace-bench>)
  set_tests_properties(bench_checkpoint_usage PROPERTIES LABELS "bench")
endif()
