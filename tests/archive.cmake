# Archive script tests (issue 6): the `provtrace` CLI with GNU tar, bsdtar
# (Debian package libarchive-tools), python3 (tarfile, json) and SIGKILL.
if(TARGET provtrace_cli)
  foreach(t interop windows hostile kill)
    add_test(NAME archive_${t}
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/archive/${t}.sh $<TARGET_FILE:provtrace_cli>)
    set_tests_properties(archive_${t} PROPERTIES LABELS "archive" TIMEOUT 600)
  endforeach()
  # issue 11: seal, archived checkpoint objects, the vault check (CLI + Python binding)
  add_test(NAME archive_edges
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/archive/edges.sh $<TARGET_FILE:provtrace_cli> $<TARGET_FILE:provtrace>)
  set_tests_properties(archive_edges PROPERTIES LABELS "archive" TIMEOUT 600)
  if(PT_SANITIZE)
    # its Python steps load the instrumented library into an uninstrumented interpreter
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE PT_EDGES_LIBASAN OUTPUT_STRIP_TRAILING_WHITESPACE)
    set_tests_properties(archive_edges PROPERTIES ENVIRONMENT "PT_PY_PRELOAD=${PT_EDGES_LIBASAN}")
  endif()
endif()
# the archive benchmark must always run to the end (numbers are reported, not enforced)
if(TARGET provtrace-bench)
  add_test(NAME bench_archive_quick COMMAND provtrace-bench archive --quick)
  set_tests_properties(bench_archive_quick PROPERTIES LABELS "bench" TIMEOUT 300)
  add_test(NAME bench_archive_usage COMMAND sh -c "\"$0\" archive --size 1x; test $? -eq 2"
    $<TARGET_FILE:provtrace-bench>)
  set_tests_properties(bench_archive_usage PROPERTIES LABELS "bench")
endif()
