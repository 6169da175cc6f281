// The prompt scan as Python sees it, shared by bind_prompt.cpp (scan_prompt)
// and bind_verdict.cpp (PromptPolicy, which falls back to it).
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "llmward/prompt_scan.hpp"
#include "scanner_handle.hpp"
#include "text_ref.hpp"

namespace llmward::bindings {

using Scanners = ScannerHandle::BorrowedScanners;

// A new str from UTF-8 the core produced (valid by construction).
pybind11::str utf8_to_str(const std::string& utf8);
// A str argument, borrowed as UTF-8 (TypeError naming `what` otherwise).
TextRef borrow_str(pybind11::handle text, const char* what);
// At least one Scanner (ValueError otherwise).
Scanners borrow_prompt_scanners(pybind11::handle scanners);
// scan_prompt() on a borrowed text, offsets in code points; runs without the GIL.
PromptScan scan_ref(const Scanners& scanners, const TextRef& ref, unsigned views);
// A PromptScan object for the text `original` that `scan` came from.
pybind11::object prompt_scan_to_python(const Scanners& scanners, pybind11::handle original,
                                       PromptScan scan);

}  // namespace llmward::bindings
