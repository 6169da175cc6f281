// The PII checks for ASCII text (pii_checks.hpp): card, SSN and North
// American phone numbers. Each returns True or False, or None when the text
// is not ASCII or the span is out of range, for the Python validator to
// decide. The GIL is kept: a check reads a few dozen characters.
#include <Python.h>

#include <optional>
#include <string>
#include <string_view>

#include "bindings.hpp"
#include "llmward/pii_checks.hpp"

namespace py = pybind11;

namespace llmward::bindings {
namespace {

using CheckFn = pii::Check (*)(std::string_view, std::size_t, std::size_t) noexcept;

// The text's characters as bytes, when it is ASCII and the span is ordered
// (checks answer None otherwise, for the Python validator to decide).
std::optional<std::string_view> ascii_text(const py::str& text, py::ssize_t start,
                                           py::ssize_t end) {
  PyObject* s = text.ptr();
  if (!PyUnicode_IS_ASCII(s) || start < 0 || end < start) return std::nullopt;
  return std::string_view(static_cast<const char*>(PyUnicode_DATA(s)),
                          static_cast<std::size_t>(PyUnicode_GET_LENGTH(s)));
}

template <CheckFn check>
py::object run(const py::str& text, py::ssize_t start, py::ssize_t end) {
  const auto view = ascii_text(text, start, end);
  if (!view) return py::none();
  switch (check(*view, static_cast<std::size_t>(start), static_cast<std::size_t>(end))) {
    case pii::Check::kValid: return py::bool_(true);
    case pii::Check::kInvalid: return py::bool_(false);
    default: return py::none();
  }
}

// The lower-cased top-level domain when text[start:end] has an e-mail
// address's shape, False when it does not, None when the text is not ASCII.
py::object email_shape(const py::str& text, py::ssize_t start, py::ssize_t end) {
  const auto view = ascii_text(text, start, end);
  if (!view) return py::none();
  std::string tld;
  switch (pii::email_shape(*view, static_cast<std::size_t>(start), static_cast<std::size_t>(end),
                           tld)) {
    case pii::Check::kValid: return py::str(tld);
    case pii::Check::kInvalid: return py::bool_(false);
    default: return py::none();
  }
}

}  // namespace

void register_pii(py::module_& m) {
  m.def("credit_card_ok", &run<pii::credit_card>, py::arg("text"), py::arg("start"),
        py::arg("end"),
        "text[start:end] as a card number (13-19 digits, Luhn, issuer prefix, not part of a "
        "longer number); None when the text is not ASCII.");
  m.def("ssn_ok", &run<pii::ssn>, py::arg("text"), py::arg("start"), py::arg("end"),
        "text[start:end] as a US SSN; None when the text is not ASCII.");
  m.def("nanp_phone_ok", &run<pii::nanp_phone>, py::arg("text"), py::arg("start"),
        py::arg("end"),
        "text[start:end] as a North American phone number; None when the text is not ASCII.");
  m.def("email_shape", &email_shape, py::arg("text"), py::arg("start"), py::arg("end"),
        "The lower-cased top-level domain when text[start:end] has an e-mail address's shape, "
        "False when it does not, None when the text is not ASCII.");
}

}  // namespace llmward::bindings
