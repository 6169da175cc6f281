#include <hs.h>

#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "llmward native core: Hyperscan scanning, normalized views, hashing and rate limiting";
  if (hs_valid_platform() != HS_SUCCESS) {
    throw std::runtime_error("this CPU lacks the SSSE3 instructions Hyperscan requires");
  }
  m.attr("hyperscan_version") = hs_version();
  llmward::bindings::register_errors(m);
  llmward::bindings::register_scanner(m);
  llmward::bindings::register_views(m);
  llmward::bindings::register_prompt(m);
  llmward::bindings::register_pii(m);
  llmward::bindings::register_verdict(m);
  llmward::bindings::register_hashing(m);
  llmward::bindings::register_ratelimit(m);
}
