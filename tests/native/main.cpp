// Runs every registered native test (or those whose name contains argv[1])
// and prints the number of checks; exit status 1 when any check failed.
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "check.hpp"

namespace native_test {

std::atomic<long> g_checks{0};
namespace {
std::atomic<long> g_failures{0};
std::mutex g_print_mutex;

std::vector<std::pair<const char*, TestFn>>& registry() {
  static std::vector<std::pair<const char*, TestFn>> tests;
  return tests;
}
}  // namespace

Registrar::Registrar(const char* name, TestFn fn) { registry().emplace_back(name, fn); }

void fail(const char* file, int line, const std::string& what) {
  g_failures.fetch_add(1);
  std::lock_guard<std::mutex> lock(g_print_mutex);
  std::fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what.c_str());
}

}  // namespace native_test

int main(int argc, char** argv) {
  using namespace native_test;
  const std::string filter = argc > 1 ? argv[1] : "";
  int run = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [name, fn] : registry()) {
    if (!filter.empty() && std::string(name).find(filter) == std::string::npos) continue;
    ++run;
    const long failures_before = g_failures.load();
    try {
      fn();
    } catch (const std::exception& error) {
      fail(name, 0, std::string("unexpected exception: ") + error.what());
    }
    std::printf("%-48s %s\n", name, g_failures.load() == failures_before ? "ok" : "FAILED");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d tests, %ld checks, %ld failures (%.1f s)\n", run, g_checks.load(),
              g_failures.load(), seconds);
  return run == 0 || g_failures.load() != 0 ? 1 : 0;
}
