# cmake --install, pkg-config and the installed CLI work together.
add_test(NAME install_and_use COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/test_install.sh ${PROJECT_BINARY_DIR})
set_tests_properties(install_and_use PROPERTIES LABELS "install;no-asan")
