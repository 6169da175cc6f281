#include "text_ref.hpp"

#include <pybind11/pybind11.h>

#include "llmward/utf8.hpp"

namespace py = pybind11;

namespace llmward::bindings {

TextRef::TextRef(PyObject* text) {
  if (PyUnicode_Check(text)) {
    const Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text)) {
      borrowed_ = std::string_view(static_cast<const char*>(PyUnicode_DATA(text)),
                                   static_cast<std::size_t>(length));
      return;
    }
    code_points_ = true;
    Py_ssize_t size = 0;
    if (const char* data = PyUnicode_AsUTF8AndSize(text, &size)) {
      borrowed_ = std::string_view(data, static_cast<std::size_t>(size));
      return;
    }
    // Lone surrogates cannot be UTF-8 encoded: scan them as U+FFFD instead.
    PyErr_Clear();
    utf8::encode(PyUnicode_DATA(text), PyUnicode_KIND(text), static_cast<std::size_t>(length),
                 owned_);
    owned_active_ = true;
    return;
  }
  std::string_view bytes;
  if (PyBytes_Check(text)) {
    bytes = std::string_view(PyBytes_AS_STRING(text), static_cast<std::size_t>(PyBytes_GET_SIZE(text)));
  } else if (PyByteArray_Check(text)) {
    // A bytearray may change while the GIL is released: copy it.
    owned_.assign(PyByteArray_AS_STRING(text), static_cast<std::size_t>(PyByteArray_GET_SIZE(text)));
    owned_active_ = true;
    bytes = owned_;
  } else {
    throw py::type_error(std::string("expected str or bytes, not ") + Py_TYPE(text)->tp_name);
  }
  // Invalid UTF-8 is repaired byte for byte, so offsets still index the input.
  if (utf8::is_valid(bytes)) {
    borrowed_ = bytes;
  } else {
    owned_ = utf8::repair(bytes);
    owned_active_ = true;
  }
}

}  // namespace llmward::bindings
