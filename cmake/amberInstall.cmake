# `cmake --install`: headers, the libraries, the `amber` executable, and a
# package config so that `find_package(amber 0.1 REQUIRED)` gives
# amber::storage, amber::checkpoint, amber::runtime, amber::actors and
# amber::cli with every dependency in their link interfaces.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(amber_install_targets amber_storage amber_checkpoint amber_runtime amber_actors)
set(amber_include_dirs storage checkpoint runtime actors)
if(AMBER_BUILD_CLI)
  list(APPEND amber_install_targets amber_cli amber)
  list(APPEND amber_include_dirs apps)
endif()
foreach(dir IN LISTS amber_include_dirs)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/include/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()

set(amber_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/amber)
install(TARGETS ${amber_install_targets}
        EXPORT amberTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT amberTargets NAMESPACE amber:: DESTINATION ${amber_cmake_dir})

# What the config must find again: the same choices this build made.
set(AMBER_WITH_PG_SINK ${LIBPQ_FOUND})
if(NOT AMBER_WITH_PG_SINK)
  set(AMBER_WITH_PG_SINK OFF)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/amberConfig.cmake.in
  ${PROJECT_BINARY_DIR}/amberConfig.cmake INSTALL_DESTINATION ${amber_cmake_dir})
# 0.x: a minor version may break the API, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/amberConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/amberConfig.cmake
              ${PROJECT_BINARY_DIR}/amberConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/amberDependencies.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
        DESTINATION ${amber_cmake_dir})
