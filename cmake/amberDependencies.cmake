# amber's dependencies, found the same way by the build (CMakeLists.txt) and
# by an installed amberConfig.cmake, so both define the same imported targets
# (PkgConfig::LMDB, OpenSSL::*, Boost::serialization, fmt::fmt, CAF::*, ...).
#
# In: AMBER_WITH_CLI (also find the command line's CLI11, toml++ and cpp-httplib),
#     AMBER_WITH_PG_SINK (ON: libpq is required; unset: optional).
# Uses find_dependency inside a package config (it returns from the config
# with a clear message when something is missing), find_package otherwise.
include(CMakeFindDependencyMacro)

macro(amber_find name)
  if(CMAKE_FIND_PACKAGE_NAME STREQUAL "amber")
    find_dependency(${name} ${ARGN})
  else()
    find_package(${name} ${ARGN} REQUIRED)
  endif()
endmacro()

amber_find(Threads)
amber_find(PkgConfig)
pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET GLOBAL lmdb)
# The PostgreSQL effect sink (issue 9): built when libpq is found.
if(AMBER_WITH_PG_SINK)
  pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET GLOBAL libpq)
elseif(NOT DEFINED AMBER_WITH_PG_SINK)
  pkg_check_modules(LIBPQ IMPORTED_TARGET GLOBAL libpq)
endif()
amber_find(OpenSSL)
amber_find(Boost COMPONENTS serialization)
amber_find(fmt)
amber_find(nlohmann_json)
amber_find(CAF 0.17) # cmake/FindCAF.cmake: Debian's libcaf-dev ships no config
if(AMBER_WITH_CLI)
  amber_find(CLI11)
  amber_find(tomlplusplus)
  # `amber ui`'s HTTP server (Debian's libcpp-httplib-dev; its pkg-config
  # flags select the OpenSSL, zlib and Brotli build the library was made with).
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET GLOBAL cpp-httplib)
endif()
