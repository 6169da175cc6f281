# AddressSanitizer + UndefinedBehaviorSanitizer for the core, the bindings and
# the native tests (LLMWARD_SANITIZE=ON, `make asan`; never in the wheel). Any
# report aborts: -fno-sanitize-recover=all turns UBSan's warnings into failures.
# -O1 keeps the stacks readable and the run fast; asserts stay on (no NDEBUG)
# when the build type is Debug, as scripts/asan.sh configures it.
if(NOT LLMWARD_SANITIZE)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "^(GNU|Clang)$")
  message(FATAL_ERROR "LLMWARD_SANITIZE needs GCC or Clang (found ${CMAKE_CXX_COMPILER_ID})")
endif()
set(LLMWARD_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
# C++ only: the BLAKE3 rounds in assembly (blake3_avx2_rounds.S) are not instrumented.
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${LLMWARD_SANITIZER_FLAGS};-O1;-g>")
add_link_options(-fsanitize=address,undefined)
message(STATUS "Sanitizers: AddressSanitizer + UndefinedBehaviorSanitizer")
