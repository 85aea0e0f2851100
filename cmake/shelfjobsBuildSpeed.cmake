# Build speed for shelfjobs' own targets: precompiled headers and unity (batched) compilation.
#
# Most of a shelfjobs translation unit's compile time is spent parsing the same third-party
# headers (nlohmann/json, spdlog, Catch2, Asio, cpp-httplib): precompiling them once per target
# halves a clean build. Unity builds compile a target's sources in batches, which parses those
# headers once per batch; they also hide a missing #include (a file may lean on an earlier file
# of its batch), so the dev preset keeps them off and builds every file on its own.
# See docs/operations.md for the measured times.

option(SHELFJOBS_PCH "Precompile the heavy third-party headers of each target" ON)
option(SHELFJOBS_UNITY_BUILD "Compile each target's sources in batches (unity build)" OFF)
set(SHELFJOBS_UNITY_BATCH 8 CACHE STRING "Sources per unity batch")

# ccache and precompiled headers: ccache caches such compiles only when told the time macros
# and the PCH's defines may be ignored (its documented "sloppiness" for GCC PCH).
if(SHELFJOBS_PCH AND SHELFJOBS_CCACHE AND CMAKE_CXX_COMPILER_LAUNCHER STREQUAL SHELFJOBS_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
    "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
    ${SHELFJOBS_CCACHE})
endif()

# shelfjobs_build_speed(<target> [HEADERS <header>...])
#   For targets of several sources (a PCH of a one-file target only adds a compile).
#   Precompiles the common standard and JSON/logging headers plus HEADERS (given as
#   <angle/bracketed.hpp>) for <target>, and batches its sources when SHELFJOBS_UNITY_BUILD is on.
function(shelfjobs_build_speed target)
  cmake_parse_arguments(ARG "" "" "HEADERS" ${ARGN})
  if(SHELFJOBS_PCH)
    target_precompile_headers(${target} PRIVATE
      <algorithm> <chrono> <functional> <map> <memory> <optional> <string> <string_view>
      <vector> <nlohmann/json.hpp> <spdlog/spdlog.h> ${ARG_HEADERS})
  endif()
  if(SHELFJOBS_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON
      UNITY_BUILD_BATCH_SIZE ${SHELFJOBS_UNITY_BATCH})
  endif()
endfunction()
