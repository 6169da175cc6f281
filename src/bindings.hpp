// One registration function per area; module.cpp calls them in order.
#pragma once

#include <pybind11/pybind11.h>

namespace llmward::bindings {

void register_errors(pybind11::module_& m);
void register_scanner(pybind11::module_& m);
void register_views(pybind11::module_& m);  // after register_scanner: adds to Scanner
void register_prompt(pybind11::module_& m);
void register_pii(pybind11::module_& m);
void register_verdict(pybind11::module_& m);  // after register_prompt: falls back to it
void register_hashing(pybind11::module_& m);
void register_ratelimit(pybind11::module_& m);

}  // namespace llmward::bindings
