// Rate limiting: llmward._core.RateLimiter and Decision. Written against the
// CPython C API rather than through pybind11's dispatcher: a decision costs
// about 30 ns in C++, and pybind11's argument loading and instance creation
// would add several times that (the budget from Python is 0.3 us). Decisions
// keep the GIL: releasing and taking it back would cost more than deciding.
// pybind11 serves only the module registration and the microbenchmark.
#include <Python.h>
#include <structmember.h>

#include <cmath>
#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

#include "bindings.hpp"
#include "llmward/mono_clock.hpp"
#include "llmward/rate_limiter.hpp"

namespace py = pybind11;

namespace llmward::bindings {
namespace {

// ---- Decision -------------------------------------------------------------

struct DecisionObject {
  PyObject_HEAD
  char allowed;
  double retry_after;
  double reset_after;
  long long remaining;
  long long limit;
};

PyTypeObject* decision_type = nullptr;

PyObject* new_decision(bool allowed, double retry_after, long long remaining,
                       double reset_after, long long limit) {
  auto* self = PyObject_New(DecisionObject, decision_type);
  if (self == nullptr) return nullptr;
  self->allowed = allowed ? 1 : 0;
  self->retry_after = retry_after;
  self->reset_after = reset_after;
  self->remaining = remaining;
  self->limit = limit;
  return reinterpret_cast<PyObject*>(self);
}

PyObject* decision_from(const RateDecision& d, std::uint64_t burst) {
  const double retry =
      d.retry_after_ns == RateLimiter::kNever ? HUGE_VAL : static_cast<double>(d.retry_after_ns) / 1e9;
  return new_decision(d.allowed, retry, static_cast<long long>(d.remaining),
                      static_cast<double>(d.reset_after_ns) / 1e9, static_cast<long long>(burst));
}

PyObject* decision_new(PyTypeObject*, PyObject* args, PyObject* kwargs) {
  static const char* names[] = {"allowed", "retry_after", "remaining", "reset_after", "limit",
                                nullptr};
  int allowed = 0;
  double retry_after = 0, reset_after = 0;
  long long remaining = 0, limit = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "pdLdL:Decision", const_cast<char**>(names),
                                   &allowed, &retry_after, &remaining, &reset_after, &limit)) {
    return nullptr;
  }
  return new_decision(allowed != 0, retry_after, remaining, reset_after, limit);
}

void decision_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  PyObject_Free(self);
  Py_DECREF(type);
}

PyObject* format_double(double value) {
  char* text = PyOS_double_to_string(value, 'r', 0, Py_DTSF_ADD_DOT_0, nullptr);
  if (text == nullptr) return nullptr;
  PyObject* out = PyUnicode_FromString(text);
  PyMem_Free(text);
  return out;
}

PyObject* decision_repr(PyObject* self) {
  auto* d = reinterpret_cast<DecisionObject*>(self);
  PyObject* retry = format_double(d->retry_after);
  PyObject* reset = retry ? format_double(d->reset_after) : nullptr;
  PyObject* out = nullptr;
  if (reset != nullptr) {
    out = PyUnicode_FromFormat(
        "Decision(allowed=%s, retry_after=%U, remaining=%lld, reset_after=%U, limit=%lld)",
        d->allowed ? "True" : "False", retry, d->remaining, reset, d->limit);
  }
  Py_XDECREF(retry);
  Py_XDECREF(reset);
  return out;
}

PyObject* decision_fields(PyObject* self) {
  auto* d = reinterpret_cast<DecisionObject*>(self);
  return Py_BuildValue("(OdLdL)", d->allowed ? Py_True : Py_False, d->retry_after, d->remaining,
                       d->reset_after, d->limit);
}

PyObject* decision_richcompare(PyObject* a, PyObject* b, int op) {
  if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(b, decision_type)) {
    Py_RETURN_NOTIMPLEMENTED;
  }
  auto* x = reinterpret_cast<DecisionObject*>(a);
  auto* y = reinterpret_cast<DecisionObject*>(b);
  const bool equal = x->allowed == y->allowed && x->retry_after == y->retry_after &&
                     x->remaining == y->remaining && x->reset_after == y->reset_after &&
                     x->limit == y->limit;
  return PyBool_FromLong((op == Py_EQ) == equal);
}

Py_hash_t decision_hash(PyObject* self) {
  PyObject* fields = decision_fields(self);
  if (fields == nullptr) return -1;
  const Py_hash_t h = PyObject_Hash(fields);
  Py_DECREF(fields);
  return h;
}

PyMemberDef decision_members[] = {
    {"allowed", T_BOOL, offsetof(DecisionObject, allowed), READONLY,
     "The request may proceed."},
    {"retry_after", T_DOUBLE, offsetof(DecisionObject, retry_after), READONLY,
     "Seconds until this cost would be allowed: 0.0 when allowed, inf when the cost exceeds "
     "the burst."},
    {"remaining", T_LONGLONG, offsetof(DecisionObject, remaining), READONLY,
     "Unit-cost requests still allowed right after this decision."},
    {"reset_after", T_DOUBLE, offsetof(DecisionObject, reset_after), READONLY,
     "Seconds until the bucket is full again."},
    {"limit", T_LONGLONG, offsetof(DecisionObject, limit), READONLY,
     "The burst: the bucket's capacity."},
    {nullptr, 0, 0, 0, nullptr}};

PyType_Slot decision_slots[] = {
    {Py_tp_doc, const_cast<char*>(
                    "Decision(allowed, retry_after, remaining, reset_after, limit)\n--\n\n"
                    "One rate-limit decision (immutable).")},
    {Py_tp_new, reinterpret_cast<void*>(decision_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(decision_dealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(decision_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(decision_richcompare)},
    {Py_tp_hash, reinterpret_cast<void*>(decision_hash)},
    {Py_tp_members, decision_members},
    {0, nullptr}};

PyType_Spec decision_spec = {"llmward._core.Decision", sizeof(DecisionObject), 0,
                             Py_TPFLAGS_DEFAULT, decision_slots};

// ---- RateLimiter ----------------------------------------------------------

struct LimiterObject {
  PyObject_HEAD
  RateLimiter* limiter;
  PyObject* clock;  // a callable returning monotonic seconds, or nullptr
};

PyTypeObject* limiter_type = nullptr;

// C++ errors as Python ones; returns nullptr for the caller to return.
PyObject* set_error_from_current() {
  try {
    throw;
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

PyObject* limiter_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* names[] = {"rate", "burst", "clock", nullptr};
  double rate = 0;
  PyObject* burst_object = nullptr;
  PyObject* clock = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "dO|$O:RateLimiter", const_cast<char**>(names),
                                   &rate, &burst_object, &clock)) {
    return nullptr;
  }
  if (!PyLong_Check(burst_object)) {
    return PyErr_Format(PyExc_TypeError, "burst must be int, not %s",
                        Py_TYPE(burst_object)->tp_name);
  }
  int overflow = 0;
  const long long burst = PyLong_AsLongLongAndOverflow(burst_object, &overflow);
  if (burst == -1 && PyErr_Occurred()) return nullptr;
  if (overflow != 0 || burst < 1 || burst > (1ll << 32)) {
    PyErr_SetString(PyExc_ValueError, "burst must be between 1 and 2**32");
    return nullptr;
  }
  if (clock != Py_None && !PyCallable_Check(clock)) {
    return PyErr_Format(PyExc_TypeError, "clock must be callable or None, not %s",
                        Py_TYPE(clock)->tp_name);
  }
  RateLimiter* limiter = nullptr;
  try {
    limiter = new RateLimiter(rate, static_cast<std::uint64_t>(burst));
  } catch (...) {
    return set_error_from_current();
  }
  auto* self = reinterpret_cast<LimiterObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) {
    delete limiter;
    return nullptr;
  }
  self->limiter = limiter;
  self->clock = nullptr;
  if (clock != Py_None) {
    Py_INCREF(clock);
    self->clock = clock;
  }
  return reinterpret_cast<PyObject*>(self);
}

int limiter_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(reinterpret_cast<LimiterObject*>(self)->clock);
  Py_VISIT(Py_TYPE(self));
  return 0;
}

int limiter_clear(PyObject* self) {
  Py_CLEAR(reinterpret_cast<LimiterObject*>(self)->clock);
  return 0;
}

void limiter_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  limiter_clear(self);
  delete reinterpret_cast<LimiterObject*>(self)->limiter;
  type->tp_free(self);
  Py_DECREF(type);
}

// The time of a decision: the limiter's clock, or the injected one's.
bool decision_time(LimiterObject* self, std::int64_t& now) {
  if (self->clock == nullptr) {
    now = self->limiter->now_ns();
    return true;
  }
  PyObject* result = PyObject_CallNoArgs(self->clock);
  if (result == nullptr) return false;
  const double seconds = PyFloat_AsDouble(result);
  Py_DECREF(result);
  if (seconds == -1.0 && PyErr_Occurred()) return false;
  const double ns = seconds * 1e9;
  if (!std::isfinite(ns) || std::fabs(ns) > static_cast<double>(RateLimiter::kMaxAbsTimeNs)) {
    PyErr_SetString(PyExc_ValueError, "clock() returned a time the limiter cannot use");
    return false;
  }
  now = std::llround(ns);
  return true;
}

// (key, cost=1) from a vectorcall: positional or keyword.
bool parse_key_cost(const char* function, PyObject* const* args, Py_ssize_t nargs,
                    PyObject* kwnames, bool takes_cost, std::string_view& key,
                    std::uint64_t& cost) {
  const Py_ssize_t max_positional = takes_cost ? 2 : 1;
  if (nargs > max_positional) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", function,
                 max_positional, nargs);
    return false;
  }
  PyObject* key_object = nargs > 0 ? args[0] : nullptr;
  PyObject* cost_object = nargs > 1 ? args[1] : nullptr;
  const Py_ssize_t keywords = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < keywords; ++i) {
    PyObject* name = PyTuple_GET_ITEM(kwnames, i);
    PyObject** slot = nullptr;
    if (PyUnicode_CompareWithASCIIString(name, "key") == 0) {
      slot = &key_object;
    } else if (takes_cost && PyUnicode_CompareWithASCIIString(name, "cost") == 0) {
      slot = &cost_object;
    } else {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", function,
                   name);
      return false;
    }
    if (*slot != nullptr) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%U'", function, name);
      return false;
    }
    *slot = args[nargs + i];
  }
  if (key_object == nullptr) {
    PyErr_Format(PyExc_TypeError, "%s() missing required argument 'key'", function);
    return false;
  }
  if (!PyUnicode_Check(key_object)) {
    PyErr_Format(PyExc_TypeError, "key must be str, not %s", Py_TYPE(key_object)->tp_name);
    return false;
  }
  Py_ssize_t length = 0;
  const char* data = PyUnicode_AsUTF8AndSize(key_object, &length);  // cached; no copy for ASCII
  if (data == nullptr) return false;
  if (length == 0 || static_cast<std::size_t>(length) > RateLimiter::kMaxKeyBytes) {
    PyErr_Format(PyExc_ValueError, "key must be 1 to %zu UTF-8 bytes, got %zd",
                 RateLimiter::kMaxKeyBytes, length);
    return false;
  }
  key = std::string_view(data, static_cast<std::size_t>(length));
  cost = 1;
  if (cost_object != nullptr) {
    if (!PyLong_Check(cost_object)) {
      PyErr_Format(PyExc_TypeError, "cost must be int, not %s", Py_TYPE(cost_object)->tp_name);
      return false;
    }
    int overflow = 0;
    const long long value = PyLong_AsLongLongAndOverflow(cost_object, &overflow);
    if (value == -1 && PyErr_Occurred()) return false;
    if (overflow < 0 || (overflow == 0 && value < 0)) {
      PyErr_SetString(PyExc_ValueError, "cost must not be negative");
      return false;
    }
    // Anything above the burst is refused the same way; clamp huge values.
    cost = overflow > 0 ? ~std::uint64_t{0} : static_cast<std::uint64_t>(value);
  }
  return true;
}

template <bool Commit>
PyObject* limiter_decide(PyObject* object, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  auto* self = reinterpret_cast<LimiterObject*>(object);
  std::string_view key;
  std::uint64_t cost = 1;
  std::int64_t now = 0;
  if (!parse_key_cost(Commit ? "acquire" : "peek", args, nargs, kwnames, true, key, cost) ||
      !decision_time(self, now)) {
    return nullptr;
  }
  try {
    const RateDecision d =
        Commit ? self->limiter->acquire(key, cost, now) : self->limiter->peek(key, cost, now);
    return decision_from(d, self->limiter->burst());
  } catch (...) {
    return set_error_from_current();
  }
}

PyObject* limiter_reset(PyObject* object, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) {
  auto* self = reinterpret_cast<LimiterObject*>(object);
  std::string_view key;
  std::uint64_t unused = 0;
  if (!parse_key_cost("reset", args, nargs, kwnames, false, key, unused)) return nullptr;
  try {
    self->limiter->reset(key);
  } catch (...) {
    return set_error_from_current();
  }
  Py_RETURN_NONE;
}

PyObject* limiter_stats(PyObject* object, PyObject*) {
  auto* self = reinterpret_cast<LimiterObject*>(object);
  return Py_BuildValue("{s:n,s:n}", "keys", static_cast<Py_ssize_t>(self->limiter->size()),
                       "memory_bytes", static_cast<Py_ssize_t>(self->limiter->memory_bytes()));
}

Py_ssize_t limiter_length(PyObject* object) {
  return static_cast<Py_ssize_t>(reinterpret_cast<LimiterObject*>(object)->limiter->size());
}

PyObject* limiter_repr(PyObject* object) {
  auto* self = reinterpret_cast<LimiterObject*>(object);
  PyObject* rate = format_double(self->limiter->rate());
  if (rate == nullptr) return nullptr;
  PyObject* out = PyUnicode_FromFormat("RateLimiter(rate=%U, burst=%llu)", rate,
                                       static_cast<unsigned long long>(self->limiter->burst()));
  Py_DECREF(rate);
  return out;
}

PyObject* limiter_rate(PyObject* object, void*) {
  return PyFloat_FromDouble(reinterpret_cast<LimiterObject*>(object)->limiter->rate());
}

PyObject* limiter_burst(PyObject* object, void*) {
  return PyLong_FromUnsignedLongLong(reinterpret_cast<LimiterObject*>(object)->limiter->burst());
}

PyObject* limiter_clock_source(PyObject* object, void*) {
  auto* self = reinterpret_cast<LimiterObject*>(object);
  return PyUnicode_FromString(self->clock != nullptr ? "callable"
                                                     : MonoClock::instance().source());
}

PyMethodDef limiter_methods[] = {
    {"acquire", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(limiter_decide<true>)),
     METH_FASTCALL | METH_KEYWORDS,
     "acquire($self, /, key, cost=1)\n--\n\n"
     "Take `cost` tokens from `key`'s bucket if it holds them; the Decision says whether it "
     "did. A cost of 0 consumes nothing."},
    {"peek", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(limiter_decide<false>)),
     METH_FASTCALL | METH_KEYWORDS,
     "peek($self, /, key, cost=1)\n--\n\n"
     "The Decision acquire() would return now, consuming nothing."},
    {"reset", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(limiter_reset)),
     METH_FASTCALL | METH_KEYWORDS,
     "reset($self, /, key)\n--\n\nFill `key`'s bucket again."},
    {"stats", limiter_stats, METH_NOARGS,
     "stats($self, /)\n--\n\n{'keys': keys tracked, 'memory_bytes': memory of tables and "
     "entries}."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef limiter_getset[] = {
    {"rate", limiter_rate, nullptr, "Tokens per second.", nullptr},
    {"burst", limiter_burst, nullptr, "The bucket's capacity.", nullptr},
    {"clock_source", limiter_clock_source, nullptr,
     "'tsc' (the CPU's invariant time-stamp counter), 'steady_clock' or 'callable' (an "
     "injected clock).",
     nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot limiter_slots[] = {
    {Py_tp_doc, const_cast<char*>(
                    "RateLimiter(rate, burst, *, clock=None)\n--\n\n"
                    "GCRA rate limiter: `rate` tokens per second, buckets of `burst` tokens, "
                    "one per key. Lock-free and thread-safe. `clock`: a callable returning "
                    "monotonic seconds, for tests.")},
    {Py_tp_new, reinterpret_cast<void*>(limiter_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(limiter_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(limiter_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(limiter_clear)},
    {Py_tp_repr, reinterpret_cast<void*>(limiter_repr)},
    {Py_tp_methods, limiter_methods},
    {Py_tp_getset, limiter_getset},
    {Py_mp_length, reinterpret_cast<void*>(limiter_length)},
    {0, nullptr}};

PyType_Spec limiter_spec = {"llmward._core.RateLimiter", sizeof(LimiterObject), 0,
                            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, limiter_slots};

PyTypeObject* make_type(py::module_& m, const char* name, PyType_Spec& spec) {
  PyObject* type = PyType_FromSpec(&spec);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // the module's reference; ours is kept for good
  return reinterpret_cast<PyTypeObject*>(type);
}

}  // namespace

void register_ratelimit(py::module_& m) {
  decision_type = make_type(m, "Decision", decision_spec);
  limiter_type = make_type(m, "RateLimiter", limiter_spec);
  m.def(
      "ratelimit_microbench",
      [](unsigned threads, bool distinct_keys, std::uint64_t decisions) {
        if (threads == 0 || threads > 256) throw py::value_error("threads must be 1 to 256");
        py::gil_scoped_release release;
        return rate_limiter_microbench(threads, distinct_keys, decisions);
      },
      py::arg("threads"), py::arg("distinct_keys"), py::arg("decisions"),
      "ns per decision per thread, timed in C++: `threads` threads each deciding `decisions` "
      "times on one shared key or a key each.");
  m.def(
      "_ratelimit_stress",
      [](unsigned threads, std::uint64_t attempts, std::uint64_t burst,
         std::uint64_t advance_tokens, std::uint64_t flood_keys) {
        if (threads == 0 || threads > 256) throw py::value_error("threads must be 1 to 256");
        if (burst < 1 || burst > (std::uint64_t{1} << 32)) throw py::value_error("bad burst");
        RateStressResult r;
        {
          py::gil_scoped_release release;
          r = rate_limiter_stress(threads, attempts, burst, advance_tokens, flood_keys);
        }
        return py::make_tuple(r.admitted_frozen, r.admitted_after_advance, r.most_keys);
      },
      py::arg("threads"), py::arg("attempts"), py::arg("burst"), py::arg("advance_tokens"),
      py::arg("flood_keys"),
      "Test hook: (admitted at a frozen time, admitted after advancing, most keys tracked) "
      "with threads hammering one key while others' keys are inserted and evicted.");
}

}  // namespace llmward::bindings
