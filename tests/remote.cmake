# Remote (S3-compatible bucket) tests: each runs under tests/remote/harness.py,
# which starts the servers it needs on 127.0.0.1 (moto_server, the SigV4
# checker) with a free port and stops them by pid.  A missing moto_server is
# a skip (exit 77) locally and a failure under CI=true.
find_program(PT_HARNESS_PY NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT PT_HARNESS_PY)
  find_program(PT_HARNESS_PY NAMES python3)
endif()
set(PT_HARNESS ${PT_HARNESS_PY} ${CMAKE_CURRENT_SOURCE_DIR}/remote/harness.py)

add_test(NAME remote_harness COMMAND ${PT_HARNESS} --moto -- ${PT_HARNESS_PY}
  ${CMAKE_CURRENT_SOURCE_DIR}/remote/check_moto.py)
set_tests_properties(remote_harness PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
