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
