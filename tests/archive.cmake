# Archive script tests (issue 6): the `provtrace` CLI with GNU tar, bsdtar
# (Debian package libarchive-tools), python3 (tarfile, json) and SIGKILL.
if(TARGET provtrace_cli)
  foreach(t interop windows hostile kill)
    add_test(NAME archive_${t}
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/archive/${t}.sh $<TARGET_FILE:provtrace_cli>)
    set_tests_properties(archive_${t} PROPERTIES LABELS "archive" TIMEOUT 600)
  endforeach()
endif()
