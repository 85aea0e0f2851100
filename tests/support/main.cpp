// SPDX-License-Identifier: MIT
// The main of the test programs. Catch2's implementation and session are in catch_impl.cpp
// (Catch::Session is declared only where the implementation is compiled).
int shelfjobs_run_catch(int argc, char** argv);

int main(int argc, char** argv) { return shelfjobs_run_catch(argc, argv); }
