# Optional dependencies of library modules (included by lib/CMakeLists.txt).

# Code provenance (lib/src/git.c is the only file including <git2.h>).
pkg_check_modules(LIBGIT2 REQUIRED IMPORTED_TARGET libgit2>=1.1)
list(APPEND PT_LIB_DEPS PkgConfig::LIBGIT2)
set(PT_PC_REQUIRES "${PT_PC_REQUIRES} libgit2")
# Archives (lib/src/archive_tar.c is the only file including <archive.h>).
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive>=3.4)
list(APPEND PT_LIB_DEPS PkgConfig::LIBARCHIVE)
set(PT_PC_REQUIRES "${PT_PC_REQUIRES} libarchive")
