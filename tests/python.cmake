# Python binding tests (unittest): tests/python/test_*.py, one ctest each.
# They run with Debian's interpreter (numpy and msgpack are installed for it)
# against the library just built, from the source tree (no install needed).
if(EXISTS /usr/bin/python3)
  set(PT_PYTHON3 /usr/bin/python3)
else()
  find_program(PT_PYTHON3 NAMES python3)
endif()

if(PT_PYTHON3)
  file(GLOB PT_PY_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/python/test_*.py)
  foreach(t ${PT_PY_TESTS})
    get_filename_component(name ${t} NAME_WE)
    add_test(NAME python_${name}
      COMMAND ${PT_PYTHON3} -m unittest -v ${name}
      WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/python)
    set_tests_properties(python_${name} PROPERTIES
      ENVIRONMENT "PROVTRACE_LIB=$<TARGET_FILE:provtrace>;PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python;PYTHONDONTWRITEBYTECODE=1;PROVTRACE_STORE="
      TIMEOUT 300
      LABELS python)
  endforeach()
else()
  message(WARNING "python3 not found: the Python binding tests are not registered")
endif()
