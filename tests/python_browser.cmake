# (named after python.cmake so that it is read after it: PT_PY_ENV and PT_PY_REGISTER come from there)
# The report and the UI in headless chromium (issue 14): tests/browser/test_browser.py.
# Skipped without chromium, a failure under CI=true (tools/setup.sh installs it).
if(TARGET provtrace_cli AND PT_PYTHON3 AND PT_PY_REGISTER)
  foreach(cls Report Ui)
    add_test(NAME browser_${cls}
      COMMAND ${PT_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/browser/test_browser.py -v ${cls})
    set_tests_properties(browser_${cls} PROPERTIES
      ENVIRONMENT "${PT_PY_ENV};PT_SCREENSHOT_DIR=${CMAKE_CURRENT_BINARY_DIR}"
      TIMEOUT 300 LABELS browser)
  endforeach()
endif()

# UI first paint and update latency for a live run (tools/bench/bench_ui.py; a benchmark: its
# numbers are printed, only a failure to run or an update never shown fails it).
if(TARGET provtrace_cli AND PT_PYTHON3 AND PT_PY_REGISTER)
  add_test(NAME bench_ui_quick
    COMMAND ${PT_PYTHON3} ${PROJECT_SOURCE_DIR}/tools/bench/bench_ui.py --quick)
  set_tests_properties(bench_ui_quick PROPERTIES ENVIRONMENT "${PT_PY_ENV}" TIMEOUT 300 LABELS "bench;browser")
endif()
