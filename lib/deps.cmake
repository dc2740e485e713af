# Optional dependencies of library modules (included by lib/CMakeLists.txt).

# Archives (lib/src/archive_tar.c is the only file including <archive.h>).
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive>=3.4)
list(APPEND PT_LIB_DEPS PkgConfig::LIBARCHIVE)
set(PT_PC_REQUIRES "${PT_PC_REQUIRES} libarchive")
