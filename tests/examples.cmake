# Runnable examples (issue 5), run as tests: each trains, records into a
# fresh store under the build tree, replays and checks what it gets back.
# train_torch.py exits 77 (ctest: "Skipped", with its message in the log)
# when torch is not importable.
if(EXISTS /usr/bin/python3)
  set(PT_EX_PYTHON3 /usr/bin/python3)
else()
  find_program(PT_EX_PYTHON3 NAMES python3)
endif()

set(PT_EX_REGISTER ON)
if(PT_SANITIZE OR PT_TSAN)
  # The interpreter is not instrumented (see python.cmake): the examples
  # run in the plain build only.
  set(PT_EX_REGISTER OFF)
endif()

if(PT_EX_PYTHON3 AND PT_EX_REGISTER)
  set(PT_EX_DIR ${CMAKE_CURRENT_BINARY_DIR}/examples)
  set(PT_EX_ENV
    "PROVTRACE_LIB=$<TARGET_FILE:provtrace>"
    "PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python"
    "PYTHONDONTWRITEBYTECODE=1"
    "PROVTRACE_STORE=")
  foreach(ex train_numpy train_torch)
    add_test(NAME example_${ex}
      COMMAND sh -c "rm -rf \"$1\" && exec \"$0\" \"$2\" --store \"$1\" --run ${ex}-test"
        ${PT_EX_PYTHON3} ${PT_EX_DIR}/store-${ex} ${PROJECT_SOURCE_DIR}/examples/${ex}.py
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(example_${ex} PROPERTIES
      ENVIRONMENT "${PT_EX_ENV}"
      SKIP_RETURN_CODE 77
      TIMEOUT 300
      LABELS "python;examples")
  endforeach()
endif()
