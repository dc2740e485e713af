# The one-way rule of lib/src (lib/src/README.md): includes and calls of the
# static library's objects never go up a layer; the checker's self-test shows
# it reports each kind of mistake.
add_test(NAME layers
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/layers/check_layers.py
          ${PROJECT_SOURCE_DIR}/lib/src $<TARGET_FILE:provtrace_static>)
add_test(NAME layers_self_test
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/layers/check_layers.py --self-test)
