// A minimal test harness for the native tests: TEST_CASE registers a
// function, CHECK* count every check and record failures without stopping,
// so one run reports all of them. Thread-safe (the counters are atomic).
#pragma once

#include <atomic>
#include <sstream>
#include <string>

namespace native_test {

using TestFn = void (*)();
struct Registrar {
  Registrar(const char* name, TestFn fn);
};
void fail(const char* file, int line, const std::string& what);
extern std::atomic<long> g_checks;

template <typename A, typename B>
std::string describe(const char* expression, const A& a, const B& b) {
  std::ostringstream out;
  out << expression << " (" << a << " vs " << b << ")";
  return out.str();
}

}  // namespace native_test

#define TEST_CASE(name)                                                   \
  static void name();                                                     \
  static const native_test::Registrar name##_registrar(#name, &name);     \
  static void name()

#define CHECK(cond)                                                        \
  do {                                                                     \
    native_test::g_checks.fetch_add(1, std::memory_order_relaxed);         \
    if (!(cond)) native_test::fail(__FILE__, __LINE__, #cond);             \
  } while (0)

#define CHECK_EQ(a, b)                                                      \
  do {                                                                      \
    native_test::g_checks.fetch_add(1, std::memory_order_relaxed);          \
    const auto& check_a_ = (a);                                             \
    const auto& check_b_ = (b);                                             \
    if (!(check_a_ == check_b_))                                            \
      native_test::fail(__FILE__, __LINE__,                                 \
                        native_test::describe(#a " == " #b, check_a_, check_b_)); \
  } while (0)

// Passes when `expr` throws `Type` whose what() contains `needle`.
#define CHECK_THROWS(expr, Type, needle)                                         \
  do {                                                                           \
    native_test::g_checks.fetch_add(1, std::memory_order_relaxed);               \
    bool check_thrown_ = false;                                                  \
    try {                                                                        \
      (void)(expr);                                                              \
    } catch (const Type& error) {                                                \
      check_thrown_ = std::string(error.what()).find(needle) != std::string::npos; \
      if (!check_thrown_)                                                        \
        native_test::fail(__FILE__, __LINE__,                                    \
                          std::string(#expr " threw: ") + error.what());         \
      check_thrown_ = true;                                                      \
    }                                                                            \
    if (!check_thrown_)                                                          \
      native_test::fail(__FILE__, __LINE__, #expr " did not throw " #Type);      \
  } while (0)
