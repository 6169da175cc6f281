// run_pair: both halves run, nested splits finish, many callers at once.
#include <atomic>
#include <thread>
#include <vector>

#include "check.hpp"
#include "llmward/worker_pool.hpp"

namespace {

// Sums [begin, end) by splitting it in two down to `leaf` elements.
long split_sum(const std::vector<long>& values, std::size_t begin, std::size_t end,
               std::size_t leaf) {
  if (end - begin <= leaf) {
    long sum = 0;
    for (std::size_t i = begin; i < end; ++i) sum += values[i];
    return sum;
  }
  const std::size_t mid = begin + (end - begin) / 2;
  long left = 0;
  long right = 0;
  llmward::run_pair([&] { right = split_sum(values, mid, end, leaf); },
                    [&] { left = split_sum(values, begin, mid, leaf); });
  return left + right;
}

}  // namespace

TEST_CASE(worker_pool_runs_both_halves) {
  std::atomic<int> ran{0};
  llmward::run_pair([&] { ran.fetch_add(1); }, [&] { ran.fetch_add(10); });
  CHECK_EQ(ran.load(), 11);
}

TEST_CASE(worker_pool_nested_splits_from_several_threads) {
  std::vector<long> values(1 << 14);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<long>(i);
  const long expected = static_cast<long>(values.size()) * (static_cast<long>(values.size()) - 1) / 2;
  std::vector<long> sums(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < sums.size(); ++t) {
    threads.emplace_back([&, t] { sums[t] = split_sum(values, 0, values.size(), 256); });
  }
  for (auto& thread : threads) thread.join();
  for (long sum : sums) CHECK_EQ(sum, expected);
}
