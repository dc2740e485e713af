# Code provenance tests (issue 7): real git repositories made with the git
# command line in temporary directories.
find_program(PT_GIT_EXECUTABLE git)
if(PT_GIT_EXECUTABLE)
  add_executable(test_code ${CMAKE_CURRENT_SOURCE_DIR}/code/test_code.c)
  target_compile_options(test_code PRIVATE ${PT_WARNINGS} -Wno-missing-prototypes)
  target_compile_definitions(test_code PRIVATE _GNU_SOURCE PT_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    PT_BINARY_DIR="${PROJECT_BINARY_DIR}")
  target_link_libraries(test_code PRIVATE provtrace::static PkgConfig::CMOCKA)
  add_test(NAME test_code COMMAND test_code)
  set_tests_properties(test_code PROPERTIES ENVIRONMENT
    "CMOCKA_MESSAGE_OUTPUT=stdout;LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/code/lsan.supp")
else()
  message(STATUS "git not found: code provenance tests disabled")
endif()
if(TARGET test_code AND TARGET provtrace_cli)
  # the CLI cases run the `provtrace code` binary
  add_dependencies(test_code provtrace_cli)
endif()
