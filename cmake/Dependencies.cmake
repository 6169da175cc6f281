# Locates the native dependencies and stops with the Debian package to install
# when one is missing, instead of a bare CMake error.

find_package(Python COMPONENTS Interpreter Development.Module REQUIRED)
find_package(pybind11 CONFIG REQUIRED)

find_package(PkgConfig QUIET)
if(NOT PkgConfig_FOUND)
  message(FATAL_ERROR "pkg-config not found: install it with 'apt-get install pkg-config' (or run 'make deps').")
endif()

pkg_check_modules(HS QUIET libhs)
if(NOT HS_FOUND)
  message(FATAL_ERROR
    "Hyperscan (pkg-config module 'libhs') not found: install 'libhyperscan-dev' "
    "(or 'libvectorscan-dev' on non-x86 hosts), e.g. 'apt-get install libhyperscan-dev', or run 'make deps'.")
endif()

# Prefer the static archive so the module carries no runtime dependency on
# libhs, but only if it can go into a shared object: Debian's libhs.a is not
# position-independent, so there the shared library is linked instead.
find_library(HS_STATIC_LIBRARY NAMES libhs.a HINTS ${HS_LIBRARY_DIRS})
set(HS_LINK_STATIC OFF)
if(HS_STATIC_LIBRARY)
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fPIC")
  set(CMAKE_REQUIRED_INCLUDES ${HS_INCLUDE_DIRS})
  set(CMAKE_REQUIRED_LINK_OPTIONS "-shared")
  set(CMAKE_REQUIRED_LIBRARIES ${HS_STATIC_LIBRARY} stdc++ m)
  set(CMAKE_REQUIRED_QUIET ON)
  check_cxx_source_compiles([=[
    #include <hs.h>
    int probe() { hs_database_t* db = nullptr; hs_compile_error_t* e = nullptr;
                  return hs_compile("a", 0, HS_MODE_BLOCK, nullptr, &db, &e); }
    int main() { return probe(); }]=] HS_STATIC_LINKS_INTO_SHARED)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_INCLUDES)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  unset(CMAKE_REQUIRED_LIBRARIES)
  set(HS_LINK_STATIC ${HS_STATIC_LINKS_INTO_SHARED})
endif()

add_library(llmward::hyperscan INTERFACE IMPORTED)
target_include_directories(llmward::hyperscan INTERFACE ${HS_INCLUDE_DIRS})
if(HS_LINK_STATIC)
  message(STATUS "Hyperscan ${HS_VERSION}: linking statically (${HS_STATIC_LIBRARY})")
  target_link_libraries(llmward::hyperscan INTERFACE ${HS_STATIC_LIBRARY} stdc++ m)
else()
  message(STATUS "Hyperscan ${HS_VERSION}: static archive missing or not position-independent; "
                 "linking the shared library (runtime package: libhyperscan5 / libvectorscan5)")
  target_link_directories(llmward::hyperscan INTERFACE ${HS_LIBRARY_DIRS})
  target_link_libraries(llmward::hyperscan INTERFACE ${HS_LIBRARIES})
endif()

find_package(OpenSSL COMPONENTS Crypto)
if(NOT OpenSSL_FOUND)
  message(FATAL_ERROR "OpenSSL libcrypto not found: install 'libssl-dev' (apt-get install libssl-dev), or run 'make deps'.")
endif()

# ICU: normalization (NFKC/NFD), character properties and UTS #39 confusable
# skeletons for the folded view. Debian's static archives are not
# position-independent, so the shared libraries are linked (runtime package
# libicu72 or newer, installed with libicu-dev).
find_package(ICU COMPONENTS uc i18n)
if(NOT ICU_FOUND)
  message(FATAL_ERROR "ICU (uc, i18n) not found: install 'libicu-dev' (apt-get install libicu-dev), or run 'make deps'.")
endif()
message(STATUS "ICU ${ICU_VERSION}: ${ICU_UC_LIBRARY} ${ICU_I18N_LIBRARY}")
