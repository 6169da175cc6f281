#include "llmward/worker_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>

namespace llmward {
namespace {

struct Job {
  const std::function<void()>* fn;
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
};

// Whoever removes a job from the queue (under its mutex) runs it: a worker,
// or the caller taking it back.
class Pool {
 public:
  Pool() {
    const unsigned workers = std::max(1u, std::thread::hardware_concurrency()) - 1;
    for (unsigned i = 0; i < workers; ++i) {
      try {
        std::thread([this] { work(); }).detach();
      } catch (const std::system_error&) {
        break;  // fewer workers: callers run what is left themselves
      }
    }
  }

  void run_pair(const std::function<void()>& other, const std::function<void()>& here) {
    Job job;
    job.fn = &other;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(&job);
    }
    ready_.notify_one();
    here();
    bool taken_back = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = std::find(queue_.begin(), queue_.end(), &job);
      if (it != queue_.end()) {
        queue_.erase(it);
        taken_back = true;
      }
    }
    if (taken_back) {
      other();
      return;
    }
    std::unique_lock<std::mutex> lock(job.mutex);
    job.finished.wait(lock, [&] { return job.done; });
  }

 private:
  [[noreturn]] void work() {
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !queue_.empty(); });
        job = queue_.front();
        queue_.pop_front();
      }
      (*job->fn)();
      {
        std::lock_guard<std::mutex> lock(job->mutex);
        job->done = true;
      }
      job->finished.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job*> queue_;
};

// Never destroyed: detached workers may outlive static destruction at exit.
std::atomic<Pool*> instance{nullptr};
std::once_flag fork_handler;

Pool& pool() {
  std::call_once(fork_handler, [] {
    // A forked child has none of the workers and maybe a mutex held by one:
    // it starts a pool of its own on first use.
    pthread_atfork(nullptr, nullptr, [] { instance.store(nullptr); });
  });
  Pool* p = instance.load(std::memory_order_acquire);
  if (p == nullptr) {
    static std::mutex creating;
    std::lock_guard<std::mutex> lock(creating);
    p = instance.load(std::memory_order_acquire);
    if (p == nullptr) {
      p = new Pool();
      instance.store(p, std::memory_order_release);
    }
  }
  return *p;
}

}  // namespace

void run_pair(const std::function<void()>& other, const std::function<void()>& here) {
  pool().run_pair(other, here);
}

}  // namespace llmward
