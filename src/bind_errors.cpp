#include "bindings.hpp"
#include "llmward/errors.hpp"

namespace py = pybind11;

namespace llmward::bindings {
namespace {

PyObject* rule_error = nullptr;
PyObject* scan_error = nullptr;

PyObject* new_exception(py::module_& m, const char* name, PyObject* base, const char* doc) {
  const std::string qualified = std::string("llmward._core.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.attr(name) = py::handle(type);  // the module keeps a reference; ours lives as long
  return type;
}

}  // namespace

void register_errors(py::module_& m) {
  rule_error = new_exception(m, "RuleError", PyExc_ValueError,
                             "A rule that cannot be compiled; `rule_id` names it (None when the "
                             "error concerns the whole rule set).");
  scan_error = new_exception(m, "ScanError", PyExc_RuntimeError,
                             "Hyperscan failed while scanning (out of memory, damaged database).");
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const RuleError& e) {
      py::object instance = py::handle(rule_error)(e.what());
      instance.attr("rule_id") =
          e.rule_id().empty() ? py::none() : py::object(py::str(e.rule_id()));
      PyErr_SetObject(rule_error, instance.ptr());
    } catch (const ScanError& e) {
      PyErr_SetString(scan_error, e.what());
    }
  });
}

}  // namespace llmward::bindings
