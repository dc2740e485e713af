# CLI tests: Python unittest scripts (Debian's /usr/bin/python3, which has
# python3-msgpack for the interop check) driving the built `provtrace` binary.
# One ctest entry per test class so that failures are easy to locate.
if(TARGET provtrace_cli)
  foreach(cls Options Discovery EmitLog Follow Concurrency Verify EdgeReplay Interop)
    add_test(NAME cli_${cls}
      COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli.py -v ${cls})
    set_tests_properties(cli_${cls} PROPERTIES
      ENVIRONMENT "PROVTRACE_BIN=$<TARGET_FILE:provtrace_cli>"
      TIMEOUT 300)
  endforeach()
endif()

# Listings checked against runs recorded through the Python binding.
if(TARGET provtrace_cli)
  add_test(NAME cli_Listings
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_listings.py -v)
  set(PT_LISTINGS_ENV "PROVTRACE_BIN=$<TARGET_FILE:provtrace_cli>;PROVTRACE_LIB=$<TARGET_FILE:provtrace>")
  if(PT_SANITIZE)
    # the recording interpreter is not instrumented: preload the runtime (as tests/python.cmake)
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE PT_LISTINGS_LIBASAN OUTPUT_STRIP_TRAILING_WHITESPACE)
    list(APPEND PT_LISTINGS_ENV "PT_PY_PRELOAD=${PT_LISTINGS_LIBASAN}")
  endif()
  set_tests_properties(cli_Listings PROPERTIES ENVIRONMENT "${PT_LISTINGS_ENV}" TIMEOUT 300)
endif()

# One renderer per thing: CLI and Python show the library's renderings (issue 12 item 5).
if(TARGET provtrace_cli)
  add_test(NAME cli_Render
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_render.py -v)
  # PT_LISTINGS_ENV (above): the binary, the library and, in a sanitizer build, the runtime to preload
  set_tests_properties(cli_Render PROPERTIES ENVIRONMENT "${PT_LISTINGS_ENV}" TIMEOUT 300)
endif()

# `provtrace report` and `provtrace ui` (issue 14); the browser checks are tests/browser.cmake.
if(TARGET provtrace_cli)
  foreach(cls Report Ui)
    add_test(NAME cli_${cls}
      COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_report.py -v ${cls})
    # PT_LISTINGS_ENV (above): the binary, the library and, in a sanitizer build, the runtime to preload
    set_tests_properties(cli_${cls} PROPERTIES ENVIRONMENT "${PT_LISTINGS_ENV}" TIMEOUT 300)
  endforeach()
endif()
# Live paths: streaming emit (kill -9 loses at most the max delay), consume, consumers (issue 17).
if(TARGET provtrace_cli)
  foreach(cls StreamingEmit Consume)
    add_test(NAME cli_Live_${cls}
      COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_live.py -v ${cls})
    set_tests_properties(cli_Live_${cls} PROPERTIES
      ENVIRONMENT "PROVTRACE_BIN=$<TARGET_FILE:provtrace_cli>" TIMEOUT 600)
  endforeach()
endif()

# The Kinesis mirror against moto_server (started on 127.0.0.1 by the test through
# tests/remote/harness.py; missing: a skip locally, a failure under CI=true).
if(TARGET provtrace_cli)
  add_test(NAME cli_Mirror COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_mirror.py -v)
  set(PT_MIRROR_ENV "PROVTRACE_BIN=$<TARGET_FILE:provtrace_cli>;PROVTRACE_LIB=$<TARGET_FILE:provtrace>")
  if(PT_SANITIZE)
    # the Python part runs in a child interpreter that preloads the runtime (CliTest.py_env)
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE PT_MIRROR_LIBASAN OUTPUT_STRIP_TRAILING_WHITESPACE)
    list(APPEND PT_MIRROR_ENV "PT_PY_PRELOAD=${PT_MIRROR_LIBASAN}")
  endif()
  set_tests_properties(cli_Mirror PROPERTIES ENVIRONMENT "${PT_MIRROR_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
