// Prompt sanitization and the guard's one-call prompt scan: sanitize(),
// Sanitized, scan_prompt(), scan_prompts() and PromptScan. Arguments are
// converted with the GIL held, the work runs without it, results are
// converted after.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "llmward/prompt_scan.hpp"
#include "llmward/sanitize.hpp"
#include "llmward/utf8.hpp"
#include "prompt_scan_py.hpp"
#include "view_flags.hpp"

namespace py = pybind11;

namespace llmward::bindings {
namespace {

// A sanitized prompt as Python sees it: offsets in code points.
class PySanitized {
 public:
  PySanitized(py::str text, sanitize::Sanitized core)
      : text_(std::move(text)), length_(py::len(text_)), core_(std::move(core)) {
    core_.text.clear();  // the str holds the text; only the map is kept
    core_.text.shrink_to_fit();
  }

  const py::str& text() const { return text_; }
  bool removed() const { return core_.removed; }

  std::pair<py::ssize_t, py::ssize_t> to_original(py::ssize_t start, py::ssize_t end) const {
    if (start < 0 || end < start || static_cast<std::size_t>(end) > length_) {
      throw py::value_error("span [" + std::to_string(start) + ", " + std::to_string(end) +
                            ") is not within the sanitized text's " + std::to_string(length_) +
                            " characters");
    }
    return {static_cast<py::ssize_t>(core_.start_in_original(static_cast<std::uint64_t>(start))),
            static_cast<py::ssize_t>(core_.end_in_original(static_cast<std::uint64_t>(end)))};
  }

 private:
  py::str text_;
  std::size_t length_;
  sanitize::Sanitized core_;
};

struct PyPromptScan {
  py::object sanitized;  // PySanitized
  py::list matches;           // per scanner: Match offsets into sanitized.text
  py::list original_matches;  // per scanner: Match offsets into the original (if removed)
};

// Lone surrogates were re-encoded as U+FFFD: the sanitized text differs
// from the original even where sanitization changed nothing else.
void mark_replaced_surrogates(const TextRef& ref, sanitize::Sanitized& s) {
  if (!ref.reencoded() || s.changed) return;
  const std::string_view utf8 = ref.utf8();
  s.changed = true;
  s.text.assign(utf8);
  s.pieces = {{0, 0, static_cast<std::uint32_t>(utf8.size()), false}};
}

// Byte offsets become code points where the caller indexes a non-ASCII str.
void to_code_points(const TextRef& ref, PromptScan& scan) {
  if (!ref.needs_code_points()) return;
  const std::string_view cleaned = scan.cleaned.changed ? scan.cleaned.text : ref.utf8();
  for (auto& matches : scan.matches) utf8::to_code_point_offsets(cleaned, matches);
  for (auto& matches : scan.original_matches) utf8::to_code_point_offsets(ref.utf8(), matches);
  sanitize::pieces_to_code_points(scan.cleaned, ref.utf8());
}

py::object to_python(py::handle original, sanitize::Sanitized cleaned) {
  py::str text = cleaned.changed ? utf8_to_str(cleaned.text)
                                 : py::reinterpret_borrow<py::str>(original);
  return py::cast(PySanitized(std::move(text), std::move(cleaned)));
}

py::object sanitize_text(py::handle text) {
  const TextRef ref = borrow_str(text, "text");
  sanitize::Sanitized cleaned = run_on(ref, [](const TextRef& r) {
    sanitize::Sanitized s = sanitize::sanitize(r.utf8());
    mark_replaced_surrogates(r, s);
    if (r.needs_code_points()) sanitize::pieces_to_code_points(s, r.utf8());
    return s;
  });
  return to_python(text, std::move(cleaned));
}

}  // namespace

py::str utf8_to_str(const std::string& utf8) {
  PyObject* s = PyUnicode_DecodeUTF8(utf8.data(), static_cast<py::ssize_t>(utf8.size()), "strict");
  if (s == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

TextRef borrow_str(py::handle text, const char* what) {
  if (!PyUnicode_Check(text.ptr())) {
    throw py::type_error(std::string(what) + " must be str, not " + Py_TYPE(text.ptr())->tp_name);
  }
  return TextRef(text.ptr());
}

Scanners borrow_prompt_scanners(py::handle scanners) {
  Scanners out = ScannerHandle::borrow_scanners(scanners);
  if (out.cores.empty()) throw py::value_error("scan_prompt() needs at least one scanner");
  return out;
}

PromptScan scan_ref(const Scanners& scanners, const TextRef& ref, unsigned flags) {
  PromptScan scan = scan_prompt(scanners.cores, ref.utf8(), flags);
  mark_replaced_surrogates(ref, scan.cleaned);
  to_code_points(ref, scan);
  return scan;
}

py::object prompt_scan_to_python(const Scanners& scanners, py::handle original,
                                 PromptScan scan) {
  PyPromptScan out;
  for (std::size_t s = 0; s < scanners.handles.size(); ++s) {
    out.matches.append(scanners.handles[s]->to_python(scan.matches[s]));
    out.original_matches.append(scan.original_matches.empty()
                                    ? py::list()
                                    : scanners.handles[s]->to_python(scan.original_matches[s]));
  }
  out.sanitized = to_python(original, std::move(scan.cleaned));
  return py::cast(std::move(out));
}

namespace {

py::object scan_one(py::handle scanners, py::handle text, long long views) {
  const unsigned flags = view_flags(views);
  const Scanners borrowed = borrow_prompt_scanners(scanners);
  const TextRef ref = borrow_str(text, "text");
  PromptScan scan = run_on(ref, [&](const TextRef& r) { return scan_ref(borrowed, r, flags); });
  return prompt_scan_to_python(borrowed, text, std::move(scan));
}

py::list scan_many(py::handle scanners, py::handle texts, long long views) {
  const unsigned flags = view_flags(views);
  const Scanners borrowed = borrow_prompt_scanners(scanners);
  const auto [owners, refs] = ScannerHandle::borrow_all(texts, "scan_prompts", true);
  std::vector<PromptScan> scans(refs.size());
  {
    py::gil_scoped_release release;
    for (std::size_t i = 0; i < refs.size(); ++i) scans[i] = scan_ref(borrowed, refs[i], flags);
  }
  py::list out(scans.size());
  for (std::size_t i = 0; i < scans.size(); ++i) {
    out[i] = prompt_scan_to_python(borrowed, owners[i], std::move(scans[i]));
  }
  return out;
}

}  // namespace

void register_prompt(py::module_& m) {
  py::class_<PySanitized>(m, "Sanitized",
                          "A sanitized prompt: `text`, whether tags or control characters were "
                          "`removed`, and to_original() mapping spans back.")
      .def_property_readonly("text", &PySanitized::text)
      .def_property_readonly("removed", &PySanitized::removed)
      .def("to_original", &PySanitized::to_original, py::arg("start"), py::arg("end"),
           "The span of the original text that text[start:end] came from; a span reaching "
           "into a collapsed whitespace run covers the whole run.");

  py::class_<PyPromptScan>(m, "PromptScan",
                           "sanitize() and scan_views() of one prompt with several scanners.")
      .def_readonly("sanitized", &PyPromptScan::sanitized)
      .def_readonly("matches", &PyPromptScan::matches,
                    "Per scanner, the matches in sanitized.text.")
      .def_readonly("original_matches", &PyPromptScan::original_matches,
                    "Per scanner, the matches in the original text; scanned only when "
                    "sanitization removed something (else empty lists).");

  m.def("sanitize", &sanitize_text, py::arg("text"),
        "Removes HTML/XML tags and control characters, collapses whitespace runs to one "
        "space and strips the ends; lone surrogates become U+FFFD.");
  m.def("scan_prompt", &scan_one, py::arg("scanners"), py::arg("text"),
        py::arg("views") = static_cast<long long>(views::kAllViews),
        "Sanitizes a prompt and scans the requested views of the result with each scanner "
        "(views built once); the original is scanned too when something was removed.");
  m.def("scan_prompts", &scan_many, py::arg("scanners"), py::arg("texts"),
        py::arg("views") = static_cast<long long>(views::kAllViews),
        "scan_prompt() for each text of a sequence; the whole batch runs without the GIL.");
}

}  // namespace llmward::bindings
