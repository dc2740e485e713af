# Code provenance tests (issue 7): tests/test_code.c (cmocka, globbed) makes
# real git repositories with the git command line in temporary directories
# and runs the `provtrace code` CLI.
if(TARGET test_code)
  if(TARGET provtrace_cli)
    add_dependencies(test_code provtrace_cli)
  endif()
  set_tests_properties(test_code PROPERTIES ENVIRONMENT
    "CMOCKA_MESSAGE_OUTPUT=stdout;LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/code/lsan.supp")
endif()
