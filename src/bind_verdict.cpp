// PromptPolicy: the guard's rules (actions, views, checks, placeholders) held
// natively, so that check() scans a prompt and decides on it in one call,
// without the GIL, returning the guard's own Verdict object. Where the
// native decision does not apply (prompt_verdict.hpp) it returns the
// PromptScan for the Python guard to finish.
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "llmward/prompt_verdict.hpp"
#include "llmward/views.hpp"
#include "prompt_scan_py.hpp"
#include "view_flags.hpp"

namespace py = pybind11;

namespace llmward::bindings {
namespace {

verdict::Action parse_action(const std::string& name) {
  if (name == "block") return verdict::Action::kBlock;
  if (name == "redact") return verdict::Action::kRedact;
  if (name == "flag") return verdict::Action::kFlag;
  throw py::value_error("unknown action " + name + " (use block, redact or flag)");
}

verdict::Confirm parse_confirm(const std::string& name) {
  using verdict::Confirm;
  static const std::array<std::pair<const char*, Confirm>, 7> names{{
      {"always", Confirm::kAlways},
      {"word_boundary", Confirm::kWordBoundary},
      {"credit_card", Confirm::kCard},
      {"ssn", Confirm::kSsn},
      {"nanp_phone", Confirm::kNanpPhone},
      {"email", Confirm::kEmail},
      {"python", Confirm::kPython},
  }};
  for (const auto& [text, value] : names) {
    if (name == text) return value;
  }
  throw py::value_error("unknown check " + name +
                        " (use always, word_boundary, credit_card, ssn, nanp_phone, email or "
                        "python)");
}

// A NamedTuple class with `fields` fields, checked once so that instances can
// be built as tuples.
py::object tuple_class(py::handle type, std::size_t fields, const char* what) {
  if (!PyType_Check(type.ptr()) ||
      !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(type.ptr()), &PyTuple_Type) ||
      !py::hasattr(type, "_fields") || py::len(type.attr("_fields")) != fields) {
    throw py::type_error(std::string(what) + " must be a NamedTuple class with " +
                         std::to_string(fields) + " fields");
  }
  return py::reinterpret_borrow<py::object>(type);
}

// An instance of a tuple subclass, built as tuple.__new__ builds one.
template <std::size_t N>
py::object make(const py::object& type, const std::array<py::handle, N>& items) {
  auto* cls = reinterpret_cast<PyTypeObject*>(type.ptr());
  PyObject* obj = cls->tp_alloc(cls, static_cast<Py_ssize_t>(N));
  if (obj == nullptr) throw py::error_already_set();
  for (std::size_t i = 0; i < N; ++i) {
    Py_INCREF(items[i].ptr());
    PyTuple_SET_ITEM(obj, static_cast<Py_ssize_t>(i), items[i].ptr());
  }
  return py::reinterpret_steal<py::object>(obj);
}

struct Checked {
  PromptScan scan;
  verdict::Decision decision;
};

class PromptPolicy {
 public:
  PromptPolicy(py::handle scanners, const std::vector<std::vector<py::tuple>>& rules,
               std::vector<std::string> email_suffixes, py::handle finding_type,
               py::handle verdict_type)
      : scanner_list_(py::reinterpret_borrow<py::object>(scanners)),
        scanners_(borrow_prompt_scanners(scanners)),
        finding_type_(tuple_class(finding_type, 6, "finding_type")),
        verdict_type_(tuple_class(verdict_type, 4, "verdict_type")) {
    if (rules.size() != scanners_.cores.size()) {
      throw py::value_error("PromptPolicy needs one rule list per scanner");
    }
    std::sort(email_suffixes.begin(), email_suffixes.end());
    core_.email_suffixes = std::move(email_suffixes);
    for (std::size_t s = 0; s < rules.size(); ++s) add_scanner(s, rules[s]);
    for (std::uint8_t v = 0; v < views_.size(); ++v) views_[v] = py::str(views::view_name(v));
    actions_ = {py::str("block"), py::str("redact"), py::str("flag")};
  }

  py::object check(py::handle text, long long views) const {
    const unsigned flags = view_flags(views);
    const TextRef ref = borrow_str(text, "prompt");
    Checked checked = run_on(ref, [&](const TextRef& r) { return run(r, flags); });
    return to_python(text, std::move(checked));
  }

  py::list check_many(py::handle texts, long long views) const {
    const unsigned flags = view_flags(views);
    const auto [owners, refs] = ScannerHandle::borrow_all(texts, "check_many", true);
    std::vector<Checked> results(refs.size());
    {
      py::gil_scoped_release release;
      for (std::size_t i = 0; i < refs.size(); ++i) results[i] = run(refs[i], flags);
    }
    py::list out(results.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
      out[i] = to_python(owners[i], std::move(results[i]));
    }
    return out;
  }

 private:
  void add_scanner(std::size_t s, const std::vector<py::tuple>& rules) {
    const std::vector<Rule>& compiled = scanners_.cores[s]->rules();
    if (rules.size() != compiled.size()) {
      throw py::value_error("scanner " + std::to_string(s) + " has " +
                            std::to_string(compiled.size()) + " rules, the policy " +
                            std::to_string(rules.size()));
    }
    auto& policies = core_.scanners.emplace_back();
    auto& ids = ids_.emplace_back();
    auto& categories = categories_.emplace_back();
    for (std::size_t r = 0; r < rules.size(); ++r) {
      const auto [id, action, views, plain, decoded, placeholder] =
          rules[r].cast<std::tuple<std::string, std::string, unsigned, std::string, std::string,
                                   std::string>>();
      if (id != compiled[r].id) {
        throw py::value_error("rule " + std::to_string(r) + " of scanner " + std::to_string(s) +
                              " is " + compiled[r].id + ", not " + id);
      }
      policies.push_back({id, compiled[r].category, placeholder, parse_action(action),
                          views & views::kAllViews, parse_confirm(plain), parse_confirm(decoded)});
      ids.push_back(py::str(id));
      categories.push_back(py::str(compiled[r].category));
    }
  }

  Checked run(const TextRef& ref, unsigned flags) const {
    Checked out{scan_ref(scanners_, ref, flags), {}};
    if (!ref.needs_code_points()) out.decision = verdict::decide(core_, out.scan, ref.utf8());
    return out;
  }

  py::object to_python(py::handle original, Checked checked) const {
    const verdict::Decision& d = checked.decision;
    if (!d.decided) return prompt_scan_to_python(scanners_, original, std::move(checked.scan));
    py::list findings(d.findings.size());
    for (std::size_t i = 0; i < d.findings.size(); ++i) {
      const verdict::Finding& f = d.findings[i];
      const verdict::RulePolicy& rule = core_.scanners[f.scanner][f.rule];
      const py::int_ start(f.start);
      const py::int_ end(f.end);
      findings[i] = make<6>(finding_type_,
                            {ids_[f.scanner][f.rule], categories_[f.scanner][f.rule], start, end,
                             actions_[static_cast<std::size_t>(rule.action)], views_[f.view]});
    }
    py::str text;
    switch (d.text) {
      case verdict::Text::kEmpty: break;
      case verdict::Text::kCleaned:
        text = checked.scan.cleaned.changed ? utf8_to_str(checked.scan.cleaned.text)
                                            : py::reinterpret_borrow<py::str>(original);
        break;
      case verdict::Text::kRedacted: text = utf8_to_str(d.redacted); break;
    }
    const py::bool_ allowed(d.allowed);
    const py::str reason(d.reason);
    return make<4>(verdict_type_, {allowed, findings, text, reason});
  }

  py::object scanner_list_;  // keeps the scanners alive
  Scanners scanners_;
  verdict::Policy core_;
  std::vector<std::vector<py::object>> ids_;
  std::vector<std::vector<py::object>> categories_;
  std::array<py::object, 3> views_;
  std::array<py::object, 3> actions_;
  py::object finding_type_;
  py::object verdict_type_;
};

}  // namespace

void register_verdict(py::module_& m) {
  py::class_<PromptPolicy>(
      m, "PromptPolicy",
      "The guard's rules for deciding on prompts natively: per scanner, per rule in the "
      "scanner's order, (id, prompt action, view flags, check for raw and folded matches, "
      "check for decoded matches, placeholder). Checks: always, word_boundary, credit_card, "
      "ssn, nanp_phone, email (shape, and a top-level domain not in email_suffixes) or python.")
      .def(py::init<py::handle, const std::vector<std::vector<py::tuple>>&,
                    std::vector<std::string>, py::handle, py::handle>(),
           py::arg("scanners"), py::arg("rules"), py::arg("email_suffixes"),
           py::arg("finding_type"), py::arg("verdict_type"))
      .def("check", &PromptPolicy::check, py::arg("prompt"),
           py::arg("views") = static_cast<long long>(views::kAllViews),
           "scan_prompt() and the verdict, as a verdict_type instance; the PromptScan instead "
           "when a match needs a Python check or the prompt is not ASCII.")
      .def("check_many", &PromptPolicy::check_many, py::arg("prompts"),
           py::arg("views") = static_cast<long long>(views::kAllViews),
           "check() for each prompt of a sequence; the whole batch runs without the GIL.");
}

}  // namespace llmward::bindings
