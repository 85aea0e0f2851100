# Warnings and sanitizers, applied to shelfjobs' own targets only (never globally, so a host
# that embeds us with add_subdirectory keeps its own flags).
function(shelfjobs_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
      -Wnon-virtual-dtor -Woverloaded-virtual -Wimplicit-fallthrough
      # Designated initializers of option structs leave fields defaulted on purpose.
      -Wno-missing-field-initializers)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # GCC 12 reports std::variant members as "maybe uninitialized" under -O2 with sanitizers
      # (a known false positive); keep it visible but not fatal.
      target_compile_options(${target} PRIVATE -Wno-error=maybe-uninitialized)
    endif()
    if(SHELFJOBS_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

# Debug information in sanitizer builds (file and line in their reports). CI turns it off to
# build faster: UBSan's reports carry their source location anyway, ASan's stacks name functions.
option(SHELFJOBS_SANITIZE_DEBUG_INFO "Compile sanitizer builds with -g" ON)

function(shelfjobs_sanitize target)
  if(SHELFJOBS_SANITIZE)
    string(REPLACE ";" "," _san "${SHELFJOBS_SANITIZE}")
    target_compile_options(${target} PUBLIC -fsanitize=${_san} -fno-omit-frame-pointer
      $<$<BOOL:${SHELFJOBS_SANITIZE_DEBUG_INFO}>:-g>)
    target_link_options(${target} PUBLIC -fsanitize=${_san})
    if("address" IN_LIST SHELFJOBS_SANITIZE)
      # Executables without PIE: ASan's instrumented globals give a position-independent test
      # program millions of relative relocations (60 MB of them), which the loader applies at
      # every start; one ctest entry per test case starts the program hundreds of times. Without
      # PIE a start takes half the time (0.34 s instead of 0.68 s). TSan keeps PIE: it expects it.
      target_link_options(${target} PUBLIC $<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>:-no-pie>)
    endif()
    if("thread" IN_LIST SHELFJOBS_SANITIZE)
      # TSan does not model std::atomic_thread_fence, which Asio's fenced blocks use; the
      # scheduler's mutex already orders handler hand-offs, so the fence is not needed there.
      target_compile_definitions(${target} PRIVATE BOOST_ASIO_DISABLE_FENCED_BLOCK)
    endif()
  endif()
endfunction()
