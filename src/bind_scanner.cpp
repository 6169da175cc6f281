// Rule, Match, Scanner and StreamScanner. Arguments are converted to C++
// with the GIL held, scans run without it, results are converted after.
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "llmward/scanner.hpp"
#include "llmward/stream_scanner.hpp"
#include "llmward/utf8.hpp"
#include "llmward/views.hpp"
#include "scanner_handle.hpp"
#include "text_ref.hpp"

namespace py = pybind11;

namespace llmward::bindings {

ScannerHandle::ScannerHandle(std::vector<Rule> rules, const std::string& cache_directory) {
  {
    py::gil_scoped_release release;
    core_ = std::make_shared<const Scanner>(std::move(rules), cache_directory);
  }
  for (const Rule& rule : core_->rules()) {
    ids_.push_back(py::str(rule.id));
    categories_.push_back(py::str(rule.category));
  }
  for (std::uint8_t v = 0; v < view_names_.size(); ++v) {
    view_names_[v] = py::reinterpret_steal<py::object>(PyUnicode_InternFromString(views::view_name(v)));
  }
}

py::list ScannerHandle::to_python(const std::vector<RawMatch>& matches) const {
  py::list out(matches.size());
  for (std::size_t i = 0; i < matches.size(); ++i) {
    const RawMatch& m = matches[i];
    out[i] = py::cast(PyMatch{ids_[m.rule], categories_[m.rule], static_cast<py::ssize_t>(m.start),
                              static_cast<py::ssize_t>(m.end), view_names_[m.view]});
  }
  return out;
}

ScannerHandle::BorrowedTexts ScannerHandle::borrow_all(py::handle texts, const char* method,
                                                      bool str_only) {
  if (!PySequence_Check(texts.ptr()) || PyUnicode_Check(texts.ptr()) ||
      PyBytes_Check(texts.ptr())) {
    throw py::type_error(std::string(method) + "() takes a sequence of " +
                         (str_only ? "str" : "str or bytes"));
  }
  const auto items = py::reinterpret_borrow<py::sequence>(texts);
  BorrowedTexts out;
  out.owners.reserve(items.size());
  out.refs.reserve(items.size());
  for (py::handle item : items) {
    if (str_only && !PyUnicode_Check(item.ptr())) {
      throw py::type_error(std::string(method) + "(): each text must be str, not " +
                           Py_TYPE(item.ptr())->tp_name);
    }
    out.owners.push_back(py::reinterpret_borrow<py::object>(item));
    out.refs.emplace_back(item.ptr());
  }
  return out;
}

ScannerHandle::BorrowedScanners ScannerHandle::borrow_scanners(py::handle scanners) {
  BorrowedScanners out;
  for (py::handle item : py::reinterpret_borrow<py::sequence>(scanners)) {
    out.handles.push_back(&item.cast<const ScannerHandle&>());
    out.cores.push_back(out.handles.back()->core().get());
  }
  return out;
}

namespace {

// Scans one borrowed text; offsets become code points for non-ASCII str.
std::vector<RawMatch> scan_ref(const Scanner& scanner, const TextRef& ref) {
  std::vector<RawMatch> matches = scanner.scan(ref.utf8());
  if (ref.needs_code_points()) utf8::to_code_point_offsets(ref.utf8(), matches);
  return matches;
}

py::list scan(const ScannerHandle& self, py::handle text) {
  const TextRef ref(text.ptr());
  return self.to_python(run_on(ref, [&](const TextRef& r) { return scan_ref(*self.core(), r); }));
}

py::list scan_batch(const ScannerHandle& self, py::handle texts) {
  const auto [owners, refs] = ScannerHandle::borrow_all(texts, "scan_batch");
  std::vector<std::vector<RawMatch>> results(refs.size());
  {
    py::gil_scoped_release release;
    for (std::size_t i = 0; i < refs.size(); ++i) results[i] = scan_ref(*self.core(), refs[i]);
  }
  py::list out(results.size());
  for (std::size_t i = 0; i < results.size(); ++i) out[i] = self.to_python(results[i]);
  return out;
}

class StreamHandle {
 public:
  explicit StreamHandle(std::shared_ptr<const ScannerHandle> owner)
      : owner_(std::move(owner)), stream_(owner_->core()) {}

  py::list feed(py::handle chunk) {
    if (!PyUnicode_Check(chunk.ptr())) {
      throw py::type_error(std::string("feed() takes str chunks, not ") +
                           Py_TYPE(chunk.ptr())->tp_name);
    }
    const TextRef ref(chunk.ptr());
    return owner_->to_python(run_on(ref, [&](const TextRef& r) { return stream_.feed(r.utf8()); }));
  }

  py::list close() { return owner_->to_python(stream_.close()); }

 private:
  std::shared_ptr<const ScannerHandle> owner_;
  StreamScanner stream_;
};

std::string resolve_cache_directory(const py::object& cache_dir, bool cache) {
  if (!cache) return {};
  if (cache_dir.is_none()) return db_cache::default_directory();
  return py::module_::import("os").attr("fspath")(cache_dir).cast<std::string>();
}

std::string rule_repr(const Rule& r) {
  std::string out = "Rule(" + py::repr(py::str(r.id)).cast<std::string>() + ", " +
                    py::repr(py::str(r.pattern)).cast<std::string>();
  if (r.literal) out += ", literal=True";
  if (!r.caseless) out += ", caseless=False";
  if (!r.category.empty()) out += ", category=" + py::repr(py::str(r.category)).cast<std::string>();
  if (r.dotall) out += ", dotall=True";
  if (r.multiline) out += ", multiline=True";
  if (r.ucp) out += ", ucp=True";
  if (!r.requires_any.empty()) {
    out += ", requires_any=" + py::repr(py::str(r.requires_any)).cast<std::string>();
  }
  return out + ")";
}

auto rule_fields(const Rule& r) {
  return py::make_tuple(r.id, r.pattern, r.literal, r.caseless, r.category, r.dotall, r.multiline,
                        r.ucp, r.requires_any);
}

Rule make_rule(std::string id, std::string pattern, bool literal, bool caseless,
               std::string category, bool dotall, bool multiline, bool ucp,
               std::string requires_any) {
  return Rule{std::move(id), std::move(pattern), std::move(category), literal, caseless,
              dotall,        multiline,          ucp, std::move(requires_any)};
}

}  // namespace

void register_scanner(py::module_& m) {
  py::class_<Rule>(m, "Rule", "A pattern to scan for, identified by `id`.")
      .def(py::init(&make_rule), py::arg("id"), py::arg("pattern"), py::kw_only(),
           py::arg("literal") = false, py::arg("caseless") = true, py::arg("category") = "",
           py::arg("dotall") = false, py::arg("multiline") = false, py::arg("ucp") = false,
           py::arg("requires_any") = "")
      .def_readonly("id", &Rule::id)
      .def_readonly("pattern", &Rule::pattern)
      .def_readonly("literal", &Rule::literal)
      .def_readonly("caseless", &Rule::caseless)
      .def_readonly("category", &Rule::category)
      .def_readonly("dotall", &Rule::dotall)
      .def_readonly("multiline", &Rule::multiline)
      .def_readonly("ucp", &Rule::ucp)
      .def_readonly("requires_any", &Rule::requires_any,
                    "ASCII characters every match contains one of (\"\": no such set); a "
                    "bounded regex rule with one is detected only around them.")
      .def("__repr__", &rule_repr)
      .def("__eq__", [](const Rule& a, const Rule& b) { return rule_fields(a).equal(rule_fields(b)); })
      .def("__hash__", [](const Rule& r) { return py::hash(rule_fields(r)); })
      .def(py::pickle([](const Rule& r) { return rule_fields(r); },
                      [](const py::tuple& t) {
                        return make_rule(t[0].cast<std::string>(), t[1].cast<std::string>(),
                                         t[2].cast<bool>(), t[3].cast<bool>(),
                                         t[4].cast<std::string>(), t[5].cast<bool>(),
                                         t[6].cast<bool>(), t[7].cast<bool>(),
                                         t[8].cast<std::string>());
                      }));

  py::class_<PyMatch>(m, "Match",
                      "A span of text that matched a rule: text[start:end]. `view` names the "
                      "normalized view it was found in (\"raw\" for Scanner.scan).")
      .def(py::init([](py::str rule, py::ssize_t start, py::ssize_t end, py::str category,
                       py::str view) { return PyMatch{rule, category, start, end, view}; }),
           py::arg("rule"), py::arg("start"), py::arg("end"), py::arg("category") = "",
           py::arg("view") = "raw")
      .def_readonly("rule", &PyMatch::rule)
      .def_readonly("category", &PyMatch::category)
      .def_readonly("start", &PyMatch::start)
      .def_readonly("end", &PyMatch::end)
      .def_readonly("view", &PyMatch::view)
      .def("__repr__",
           [](const PyMatch& x) {
             std::string out = "Match(rule=" + py::repr(x.rule).cast<std::string>() +
                               ", start=" + std::to_string(x.start) +
                               ", end=" + std::to_string(x.end);
             if (!x.view.equal(py::str("raw"))) out += ", view=" + py::repr(x.view).cast<std::string>();
             return out + ")";
           })
      .def("__eq__",
           [](const PyMatch& a, const PyMatch& b) {
             return a.start == b.start && a.end == b.end && a.rule.equal(b.rule) &&
                    a.category.equal(b.category) && a.view.equal(b.view);
           })
      .def("__hash__",
           [](const PyMatch& x) { return py::hash(py::make_tuple(x.rule, x.start, x.end)); });

  py::class_<ScannerHandle, std::shared_ptr<ScannerHandle>>(
      m, "Scanner", "Rules compiled into Hyperscan databases; safe to share between threads.")
      .def(py::init([](const py::iterable& rule_items, const py::object& cache_dir, bool cache) {
             std::vector<Rule> rules;
             for (py::handle item : rule_items) {
               if (!py::isinstance<Rule>(item)) {
                 throw py::type_error("Scanner() takes Rule objects, not " +
                                      std::string(Py_TYPE(item.ptr())->tp_name));
               }
               rules.push_back(item.cast<Rule>());
             }
             return std::make_shared<ScannerHandle>(std::move(rules),
                                                    resolve_cache_directory(cache_dir, cache));
           }),
           py::arg("rules"), py::kw_only(), py::arg("cache_dir") = py::none(),
           py::arg("cache") = true)
      .def("scan", &scan, py::arg("text"))
      .def("scan_batch", &scan_batch, py::arg("texts"))
      .def(
          "stream",
          [](const std::shared_ptr<ScannerHandle>& self) {
            return std::make_unique<StreamHandle>(self);
          })
      .def_property_readonly("rules",
                             [](const ScannerHandle& self) { return self.core()->rules(); })
      .def_property_readonly("cache_status",
                             [](const ScannerHandle& self) {
                               return db_cache::to_string(self.core()->cache_status());
                             })
      .def(
          "max_width",
          [](const ScannerHandle& self, const std::string& rule_id) -> py::object {
            const auto& rules = self.core()->rules();
            for (std::uint32_t i = 0; i < rules.size(); ++i) {
              if (rules[i].id != rule_id) continue;
              const std::uint64_t width = self.core()->max_width(i);
              return width == kUnbounded ? py::none() : py::object(py::int_(width));
            }
            throw py::key_error(rule_id);
          },
          py::arg("rule_id"),
          "Longest possible match of a rule in UTF-8 bytes (an upper bound on its length in "
          "characters), or None when it is unbounded ('+', '*', '{n,}').")
      .def("__len__", [](const ScannerHandle& self) { return self.core()->rules().size(); })
      .def("__repr__", [](const ScannerHandle& self) {
        return "<llmward.Scanner with " + std::to_string(self.core()->rules().size()) + " rules>";
      });

  py::class_<StreamHandle>(m, "StreamScanner",
                           "Scans text arriving in chunks; see Scanner.stream().")
      .def("feed", &StreamHandle::feed, py::arg("chunk"))
      .def("close", &StreamHandle::close);

  m.def("default_cache_dir", &db_cache::default_directory,
        "Directory for compiled databases when Scanner(cache_dir=None).");
}

}  // namespace llmward::bindings
