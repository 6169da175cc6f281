// Normalized views: normalize(), View, VIEW_* flags, and Scanner.scan_views
// / scan_views_batch. Arguments are converted with the GIL held, views are
// built and scanned without it, results are converted after.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "llmward/utf8.hpp"
#include "llmward/views.hpp"
#include "scanner_handle.hpp"
#include "text_ref.hpp"
#include "view_flags.hpp"

namespace py = pybind11;

namespace llmward::bindings {
namespace {

// A view as Python sees it: its text as str and, per code point of that
// text, the range of the original it came from (code points for str input,
// bytes for bytes input).
class PyView {
 public:
  PyView(py::str name, py::str text, std::vector<std::pair<py::ssize_t, py::ssize_t>> spans)
      : name_(std::move(name)), text_(std::move(text)), spans_(std::move(spans)) {}

  const py::str& name() const { return name_; }
  const py::str& text() const { return text_; }

  std::pair<py::ssize_t, py::ssize_t> source_span(py::ssize_t start, py::ssize_t end) const {
    const auto length = static_cast<py::ssize_t>(spans_.size());
    if (start < 0 || end < start || end > length) {
      throw py::value_error("span [" + std::to_string(start) + ", " + std::to_string(end) +
                            ") is not within the view's " + std::to_string(length) +
                            " characters");
    }
    if (start < end) return {spans_[start].first, spans_[end - 1].second};
    if (start < length) return {spans_[start].first, spans_[start].first};
    if (length > 0) return {spans_.back().second, spans_.back().second};
    return {0, 0};
  }

  std::string repr() const {
    return "View(name=" + py::repr(name_).cast<std::string>() +
           ", text=" + py::repr(text_).cast<std::string>() + ")";
  }

 private:
  py::str name_;
  py::str text_;
  std::vector<std::pair<py::ssize_t, py::ssize_t>> spans_;
};

// Original byte offset -> the unit the caller indexes with.
class Units {
 public:
  explicit Units(const TextRef& ref) {
    if (!ref.needs_code_points()) return;
    const std::string_view s = ref.utf8();
    code_point_at_.resize(s.size() + 1);
    std::uint32_t count = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      code_point_at_[i] = count;
      count += (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    }
    code_point_at_[s.size()] = count;
  }
  py::ssize_t operator()(std::uint32_t byte) const {
    return static_cast<py::ssize_t>(code_point_at_.empty() ? byte : code_point_at_[byte]);
  }

 private:
  std::vector<std::uint32_t> code_point_at_;
};

PyView to_python(const views::View& view, const Units& units) {
  const std::string& bytes = view.mapped.text;
  const auto* t = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = t + bytes.size();
  std::u32string code_points;
  std::vector<std::pair<py::ssize_t, py::ssize_t>> spans;
  std::size_t length = 0;
  for (std::size_t i = 0; i < bytes.size(); i += length) {
    code_points.push_back(utf8::next(t + i, end, length));
    const views::Span s = view.mapped.source(i, i + length);
    spans.emplace_back(units(s.begin), units(s.end));
  }
  PyObject* text = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, code_points.data(),
                                             static_cast<py::ssize_t>(code_points.size()));
  if (text == nullptr) throw py::error_already_set();
  return PyView(py::str(views::view_name(view.index)), py::reinterpret_steal<py::str>(text),
                std::move(spans));
}

py::list normalize(py::handle text, long long views) {
  const unsigned flags = view_flags(views);
  const TextRef ref(text.ptr());
  const std::vector<views::View> built =
      run_on(ref, [&](const TextRef& r) { return views::build_views(r.utf8(), flags); });
  const Units units(ref);
  py::list out;
  for (const views::View& view : built) out.append(py::cast(to_python(view, units)));
  return out;
}

std::vector<RawMatch> scan_views_ref(const Scanner& scanner, const TextRef& ref, unsigned flags) {
  std::vector<RawMatch> matches = views::scan_views(scanner, ref.utf8(), flags);
  if (ref.needs_code_points()) utf8::to_code_point_offsets(ref.utf8(), matches);
  return matches;
}

py::list scan_views(const ScannerHandle& self, py::handle text, long long views) {
  const unsigned flags = view_flags(views);
  const TextRef ref(text.ptr());
  return self.to_python(
      run_on(ref, [&](const TextRef& r) { return scan_views_ref(*self.core(), r, flags); }));
}

py::list scan_views_batch(const ScannerHandle& self, py::handle texts, long long views) {
  const unsigned flags = view_flags(views);
  const auto [owners, refs] = ScannerHandle::borrow_all(texts, "scan_views_batch");
  std::vector<std::vector<RawMatch>> results(refs.size());
  {
    py::gil_scoped_release release;
    for (std::size_t i = 0; i < refs.size(); ++i) {
      results[i] = scan_views_ref(*self.core(), refs[i], flags);
    }
  }
  py::list out(results.size());
  for (std::size_t i = 0; i < results.size(); ++i) out[i] = self.to_python(results[i]);
  return out;
}

// Several scanners over views built once (the guard's rules and its canary).
py::list scan_with(py::handle scanners, py::handle text, long long views) {
  const unsigned flags = view_flags(views);
  const auto [handles, cores] = ScannerHandle::borrow_scanners(scanners);
  const TextRef ref(text.ptr());
  auto results = run_on(ref, [&](const TextRef& r) {
    auto per_scanner = views::scan_views(cores, r.utf8(), flags);
    if (r.needs_code_points()) {
      for (auto& matches : per_scanner) utf8::to_code_point_offsets(r.utf8(), matches);
    }
    return per_scanner;
  });
  py::list out;
  for (std::size_t s = 0; s < handles.size(); ++s) out.append(handles[s]->to_python(results[s]));
  return out;
}

py::ssize_t hold_start(py::handle text, py::ssize_t distance) {
  if (distance < 0) throw py::value_error("distance must be >= 0");
  const TextRef ref(text.ptr());
  const std::int64_t start = run_on(ref, [&](const TextRef& r) {
    return views::hold_start(r.utf8(), static_cast<std::size_t>(distance));
  });
  if (start <= 0 || !ref.needs_code_points()) return static_cast<py::ssize_t>(start);
  const std::string_view prefix = ref.utf8().substr(0, static_cast<std::size_t>(start));
  return static_cast<py::ssize_t>(utf8::count_code_points(prefix));
}

constexpr long long kDefaultNormalizeViews = views::kFolded | views::kDecoded;
constexpr long long kDefaultScanViews = views::kAllViews;

}  // namespace

void register_views(py::module_& m) {
  m.attr("VIEW_RAW") = views::kRaw;
  m.attr("VIEW_FOLDED") = views::kFolded;
  m.attr("VIEW_DECODED") = views::kDecoded;

  py::class_<PyView>(m, "View",
                     "A normalized view of a text: `name` (\"raw\", \"folded\" or \"decoded\"), "
                     "`text`, and source_span() mapping a span of `text` to the original.")
      .def_property_readonly("name", &PyView::name)
      .def_property_readonly("text", &PyView::text)
      .def("source_span", &PyView::source_span, py::arg("start"), py::arg("end"),
           "The range of the original text that view.text[start:end] came from: code "
           "points for str input, bytes for bytes input.")
      .def("__repr__", &PyView::repr);

  m.def("normalize", &normalize, py::arg("text"), py::arg("views") = kDefaultNormalizeViews,
        "The requested views of a text (str or bytes), in the order raw, folded, decoded. A "
        "folded view identical to the raw text and a decoded view with nothing decoded are "
        "left out.");

  m.def("hold_start", &hold_start, py::arg("text"), py::arg("distance"),
        "For streams: the largest offset o such that text[o:] is at least `distance` UTF-8 "
        "bytes long both as given and in the folded view (-1 when the text is shorter): a "
        "match at most that wide ending after the text cannot start before o.");
  m.def("scan_with", &scan_with, py::arg("scanners"), py::arg("text"),
        py::arg("views") = kDefaultScanViews,
        "Scanner.scan_views() of one text with several scanners, the views built once: one "
        "list of matches per scanner.");

  auto scanner = py::reinterpret_borrow<py::class_<ScannerHandle, std::shared_ptr<ScannerHandle>>>(
      m.attr("Scanner"));
  scanner
      .def("scan_views", &scan_views, py::arg("text"), py::arg("views") = kDefaultScanViews,
           "Scans the requested normalized views of a text and reports every match at the "
           "original characters; Match.view names the view it was found in.")
      .def("scan_views_batch", &scan_views_batch, py::arg("texts"),
           py::arg("views") = kDefaultScanViews,
           "scan_views() for each text of a sequence; the whole batch runs without the GIL.");
}

}  // namespace llmward::bindings
