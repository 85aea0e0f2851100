// SPDX-License-Identifier: MIT
// Catch2's implementation, compiled once for every test program (it is the slowest file of the
// tests to compile). main.cpp holds the usual main; a test program with a main of its own (the
// browser test) links this alone and calls `shelfjobs_run_catch`.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int shelfjobs_run_catch(int argc, char** argv) { return Catch::Session().run(argc, argv); }
