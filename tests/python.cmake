# Python binding tests (unittest): tests/python/test_*.py, one ctest each.
# They run with Debian's interpreter (numpy and msgpack are installed for it)
# against the library just built, from the source tree (no install needed).
if(EXISTS /usr/bin/python3)
  set(PT_PYTHON3 /usr/bin/python3)
else()
  find_program(PT_PYTHON3 NAMES python3)
endif()

set(PT_PY_ENV
  "PROVTRACE_LIB=$<TARGET_FILE:provtrace>"
  "PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python"
  "PYTHONDONTWRITEBYTECODE=1"
  "PROVTRACE_STORE=")
if(TARGET provtrace_cli)
  # tests that need a CLI-only operation (archive run) call the binary
  list(APPEND PT_PY_ENV "PROVTRACE_BIN=$<TARGET_FILE:provtrace_cli>")
endif()
set(PT_PY_REGISTER ON)
if(PT_SANITIZE)
  # The interpreter is not instrumented: the sanitizer runtime must be
  # loaded before the library.  Leak detection is off because the
  # interpreter itself keeps memory until exit; every other check is on.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
    OUTPUT_VARIABLE PT_LIBASAN OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(PT_LIBASAN AND EXISTS "${PT_LIBASAN}")
    list(APPEND PT_PY_ENV "LD_PRELOAD=${PT_LIBASAN}"
      "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1")
  else()
    set(PT_PY_REGISTER OFF)
    message(STATUS "python tests: libasan.so not found, not registered in this sanitizer build")
  endif()
endif()
if(PT_TSAN)
  set(PT_PY_REGISTER OFF)
  message(STATUS "python tests: not registered in a ThreadSanitizer build")
endif()

if(PT_PYTHON3 AND PT_PY_REGISTER)
  file(GLOB PT_PY_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/python/test_*.py)
  foreach(t ${PT_PY_TESTS})
    get_filename_component(name ${t} NAME_WE)
    add_test(NAME python_${name}
      COMMAND ${PT_PYTHON3} -m unittest -v ${name}
      WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/python)
    set_tests_properties(python_${name} PROPERTIES
      ENVIRONMENT "${PT_PY_ENV}"
      TIMEOUT 600
      LABELS python)
  endforeach()
elseif(NOT PT_PYTHON3)
  message(WARNING "python3 not found: the Python binding tests are not registered")
endif()
