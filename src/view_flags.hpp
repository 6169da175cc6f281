// The `views` argument of the scanning functions, checked.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "llmward/views.hpp"

namespace llmward::bindings {

inline unsigned view_flags(long long views) {
  if (views < 0 || (static_cast<unsigned long long>(views) &
                    ~static_cast<unsigned long long>(views::kAllViews)) != 0) {
    throw pybind11::value_error("views must combine VIEW_RAW, VIEW_FOLDED and VIEW_DECODED, not " +
                                std::to_string(views));
  }
  return static_cast<unsigned>(views);
}

}  // namespace llmward::bindings
