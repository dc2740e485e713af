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

function(pt_add_remote_cmocka name)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/remote/${name}.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${PT_WARNINGS} -Wno-missing-prototypes)
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE PT_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    PT_BINARY_DIR="${PROJECT_BINARY_DIR}")
  target_link_libraries(${name} PRIVATE provtrace::static PkgConfig::CMOCKA)
endfunction()

# the HTTP client, AWS configuration, XML; signatures checked by botocore's signer
pt_add_remote_cmocka(test_http)
add_test(NAME remote_http COMMAND ${PT_HARNESS} --fake -- $<TARGET_FILE:test_http>)
set_tests_properties(remote_http PROPERTIES ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout"
  SKIP_RETURN_CODE 77 TIMEOUT 300)
