# Fuzz targets (tests/fuzz/fuzz_<name>.c, one LLVMFuzzerTestOneInput each).
#
# Always: each target is linked with the standalone driver (tests/fuzz/driver.c)
# under the normal compiler, and ctest replays its corpus tests/fuzz/corpus/<name>/
# as the test `fuzz_<name>` (so every crash ever found stays fixed).
#
# With -DPT_FUZZ=ON (clang only): also build libFuzzer binaries
# `fuzz-<name>` with ASan+UBSan against a coverage-instrumented copy of the
# library; tools/fuzz.sh runs them.  Adding a target is adding one file.
option(PT_FUZZ "Build the libFuzzer targets (needs clang)" OFF)

set(PT_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
file(GLOB PT_FUZZ_TARGETS CONFIGURE_DEPENDS ${PT_FUZZ_DIR}/fuzz_*.c)

if(PT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PT_FUZZ needs clang (configure with CC=clang)")
  endif()
  # PT_WARNINGS holds gcc-only flags (-Wno-format-truncation); clang must not fail on them.
  set(PT_FUZZ_WARNINGS ${PT_WARNINGS} -Wno-unknown-warning-option)
  set(PT_FUZZ_SAN -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  file(GLOB PT_FUZZ_LIB_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/lib/src/*/*.c)
  add_library(provtrace_fuzzlib STATIC ${PT_FUZZ_LIB_SOURCES})
  target_include_directories(provtrace_fuzzlib
    PUBLIC ${PROJECT_SOURCE_DIR}/lib/include ${PROJECT_SOURCE_DIR}/lib/src)
  target_compile_definitions(provtrace_fuzzlib PRIVATE _GNU_SOURCE PT_BUILDING_LIBRARY)
  target_compile_options(provtrace_fuzzlib PRIVATE ${PT_FUZZ_WARNINGS} -fsanitize=fuzzer-no-link ${PT_FUZZ_SAN})
  target_link_libraries(provtrace_fuzzlib PUBLIC $<TARGET_PROPERTY:provtrace_obj,INTERFACE_LINK_LIBRARIES>)
endif()

foreach(src ${PT_FUZZ_TARGETS})
  get_filename_component(fname ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" name ${fname})
  add_executable(fuzz_replay_${name} ${src} ${PT_FUZZ_DIR}/driver.c)
  target_compile_options(fuzz_replay_${name} PRIVATE ${PT_WARNINGS})
  target_compile_definitions(fuzz_replay_${name} PRIVATE _GNU_SOURCE)
  target_link_libraries(fuzz_replay_${name} PRIVATE provtrace::static)
  add_test(NAME fuzz_${name} COMMAND fuzz_replay_${name} ${PT_FUZZ_DIR}/corpus/${name})
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz)
  if(PT_FUZZ)
    add_executable(fuzz-${name} ${src})
    target_compile_options(fuzz-${name} PRIVATE ${PT_FUZZ_WARNINGS} -fsanitize=fuzzer ${PT_FUZZ_SAN})
    target_compile_definitions(fuzz-${name} PRIVATE _GNU_SOURCE)
    target_link_options(fuzz-${name} PRIVATE -fsanitize=fuzzer ${PT_FUZZ_SAN})
    target_link_libraries(fuzz-${name} PRIVATE provtrace_fuzzlib)
  endif()
endforeach()

# Seed generator (not a test): tools/fuzz.sh --seeds rewrites tests/fuzz/corpus/*/seed-*.
add_executable(fuzz_gen_seeds ${PT_FUZZ_DIR}/gen_seeds.c)
target_compile_options(fuzz_gen_seeds PRIVATE ${PT_WARNINGS} -Wno-missing-prototypes)
target_compile_definitions(fuzz_gen_seeds PRIVATE _GNU_SOURCE)
target_link_libraries(fuzz_gen_seeds PRIVATE provtrace::static)
