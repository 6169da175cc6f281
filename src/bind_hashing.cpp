// Hashing: llmward._core.Hasher (SHA-256 or BLAKE3, incremental) and
// hash_file (every requested digest in one read). Buffers are taken before
// the GIL is released and converted after it is taken back.
#include <Python.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "llmward/blake3.hpp"
#include "llmward/file_hash.hpp"
#include "llmward/sha256.hpp"

namespace py = pybind11;

namespace llmward::bindings {
namespace {

// Updates shorter than this keep the GIL: releasing it costs more.
constexpr std::size_t kReleaseGilBytes = 64 * 1024;
// Extended output requested in one call is bounded (it is built in memory).
constexpr std::size_t kMaxOutputBytes = 1u << 30;

py::bytes to_bytes(const std::uint8_t* data, std::size_t size) {
  return py::bytes(reinterpret_cast<const char*>(data), size);
}

class PyHasher {
 public:
  PyHasher(const std::string& algorithm, const std::optional<py::bytes>& key, unsigned threads) {
    if (algorithm == "sha256") {
      if (key) throw py::value_error("sha256 takes no key (keyed hashing is a BLAKE3 mode)");
      state_.emplace<Sha256>();
    } else if (algorithm == "blake3") {
      if (key) {
        const std::string k = *key;
        if (k.size() != Blake3::kKeyLen) {
          throw py::value_error("a BLAKE3 key is 32 bytes, got " + std::to_string(k.size()));
        }
        state_.emplace<Blake3>(reinterpret_cast<const std::uint8_t*>(k.data()));
      } else {
        state_.emplace<Blake3>();
      }
      // 0: every core (as for hash_file).
      std::get<Blake3>(state_).set_threads(threads != 0 ? threads
                                                        : std::thread::hardware_concurrency());
    } else {
      throw py::value_error("unknown algorithm '" + algorithm + "' (use 'sha256' or 'blake3')");
    }
    name_ = algorithm;
  }

  static std::unique_ptr<PyHasher> derive_key(const std::string& context) {
    auto h = std::unique_ptr<PyHasher>(new PyHasher());
    h->state_.emplace<Blake3>(Blake3::derive_key(context));
    h->name_ = "blake3";
    return h;
  }

  void update(const py::buffer& data) {
    const py::buffer_info info = data.request();  // held until the end: the bytes stay put
    if (info.ndim > 1 && !is_c_contiguous(info)) {
      throw py::value_error("update() needs a C-contiguous buffer");
    }
    const auto* p = static_cast<const std::uint8_t*>(info.ptr);
    const std::size_t size = static_cast<std::size_t>(info.size * info.itemsize);
    if (size < kReleaseGilBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      absorb(p, size);
      return;
    }
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);  // after the release: a waiter never holds the GIL
    absorb(p, size);
  }

  py::bytes digest(std::size_t length, std::uint64_t seek) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto* sha = std::get_if<Sha256>(&state_)) {
      if (length != 32 || seek != 0) {
        throw py::value_error("sha256 has a fixed 32-byte digest (length and seek are BLAKE3's)");
      }
      const auto d = sha->peek();
      return to_bytes(d.data(), d.size());
    }
    if (length > kMaxOutputBytes) throw py::value_error("length is limited to 1 GiB per call");
    std::string out(length, '\0');
    std::get<Blake3>(state_).finalize(reinterpret_cast<std::uint8_t*>(out.data()), length, seek);
    return py::bytes(out);
  }

  std::string hexdigest(std::size_t length, std::uint64_t seek) {
    const std::string raw = digest(length, seek);
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(raw.size() * 2);
    for (unsigned char c : raw) {
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
    return out;
  }

  std::unique_ptr<PyHasher> copy() {
    std::lock_guard<std::mutex> lock(mutex_);
    auto h = std::unique_ptr<PyHasher>(new PyHasher());
    h->name_ = name_;
    if (auto* sha = std::get_if<Sha256>(&state_)) {
      h->state_.emplace<Sha256>().copy_from(*sha);
    } else {
      h->state_.emplace<Blake3>(std::get<Blake3>(state_));
    }
    return h;
  }

  const std::string& name() const { return name_; }

 private:
  PyHasher() = default;

  static bool is_c_contiguous(const py::buffer_info& info) {
    py::ssize_t expected = info.itemsize;
    for (py::ssize_t i = info.ndim; i-- > 0;) {
      if (info.strides[static_cast<std::size_t>(i)] != expected) return false;
      expected *= info.shape[static_cast<std::size_t>(i)];
    }
    return true;
  }

  void absorb(const std::uint8_t* p, std::size_t size) {
    if (auto* sha = std::get_if<Sha256>(&state_)) {
      sha->update(p, size);
    } else {
      std::get<Blake3>(state_).update(p, size);
    }
  }

  std::variant<std::monostate, Sha256, Blake3> state_;
  std::string name_;
  std::mutex mutex_;
};

// OSError(errno, text, path): Python picks the subclass from errno.
[[noreturn]] void raise_os_error(const FileError& error, const py::bytes& path) {
  const std::string text = error.reason().empty() ? std::strerror(error.code()) : error.reason();
  PyErr_SetObject(PyExc_OSError, py::make_tuple(error.code(), text, path).ptr());
  throw py::error_already_set();
}

py::tuple hash_file(const py::bytes& path, bool sha256, bool blake3, unsigned threads,
                    const py::object& progress) {
  if (!sha256 && !blake3) throw py::value_error("no algorithm requested");
  HashOptions options;
  options.sha256 = sha256;
  options.blake3 = blake3;
  options.threads = threads;
  std::optional<py::error_already_set> callback_error;
  // Runs on this thread between buffers: takes the GIL to report progress
  // and to notice Ctrl-C, so hashing a large file can be interrupted.
  options.progress = [&](std::uint64_t done, std::uint64_t total) {
    py::gil_scoped_acquire gil;
    try {
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      if (!progress.is_none()) progress(done, total);
      return true;
    } catch (py::error_already_set& error) {
      callback_error.emplace(std::move(error));
      return false;
    }
  };
  const std::string file = path;
  FileDigests digests;
  try {
    py::gil_scoped_release release;
    digests = llmward::hash_file(file, options);
  } catch (const HashCancelled&) {
    if (callback_error) throw std::move(*callback_error);
    throw;
  } catch (const FileError& error) {
    raise_os_error(error, path);
  }
  auto as_object = [](const std::optional<std::array<std::uint8_t, 32>>& d) -> py::object {
    if (!d) return py::none();
    return to_bytes(d->data(), d->size());
  };
  return py::make_tuple(as_object(digests.sha256), as_object(digests.blake3), digests.bytes);
}

}  // namespace

void register_hashing(py::module_& m) {
  py::class_<PyHasher>(m, "Hasher",
                       "Incremental SHA-256 or BLAKE3 (keyed, derive-key and extended output "
                       "for BLAKE3). Updates of 64 KiB and more release the GIL.")
      .def(py::init<const std::string&, const std::optional<py::bytes>&, unsigned>(),
           py::arg("algorithm"), py::kw_only(), py::arg("key") = py::none(),
           py::arg("threads") = 1)
      .def_static("derive_key", &PyHasher::derive_key, py::arg("context"),
                  "A BLAKE3 hasher in key-derivation mode for this context string.")
      .def("update", &PyHasher::update, py::arg("data"))
      .def("digest", &PyHasher::digest, py::arg("length") = 32, py::arg("seek") = 0)
      .def("hexdigest", &PyHasher::hexdigest, py::arg("length") = 32, py::arg("seek") = 0)
      .def("copy", &PyHasher::copy)
      .def_property_readonly("name", &PyHasher::name)
      .def("__repr__", [](const PyHasher& h) { return "<llmward.Hasher " + h.name() + ">"; });
  m.def("hash_file", &hash_file, py::arg("path"), py::arg("sha256"), py::arg("blake3"),
        py::arg("threads") = 0, py::arg("progress") = py::none(),
        "(sha256 digest or None, blake3 digest or None, bytes read) of one file, read once.");
  m.def("blake3_simd", &Blake3::simd, "The BLAKE3 SIMD code in use.");
  m.def("blake3_supported_simd", &Blake3::supported_simd,
        "Every BLAKE3 SIMD variant this CPU runs.");
  m.def(
      "blake3_select_simd",
      [](const std::string& name) {
        if (!Blake3::select_simd(name)) {
          throw py::value_error("BLAKE3 SIMD variant '" + name + "' is unknown or unsupported here");
        }
      },
      py::arg("name"), "Switches the process to this BLAKE3 SIMD variant (tests, benchmarks).");
}

}  // namespace llmward::bindings
