// Owning handles for Hyperscan objects and a pool of scratch spaces, so any
// number of threads can scan one database without sharing scratch.
#pragma once

#include <hs.h>

#include <memory>
#include <mutex>
#include <vector>

namespace llmward {

struct DatabaseDeleter {
  void operator()(hs_database_t* db) const noexcept { hs_free_database(db); }
};
using Database = std::unique_ptr<hs_database_t, DatabaseDeleter>;

struct ScratchDeleter {
  void operator()(hs_scratch_t* scratch) const noexcept { hs_free_scratch(scratch); }
};
using Scratch = std::unique_ptr<hs_scratch_t, ScratchDeleter>;

class ScratchPool {
 public:
  // Grows the template scratch so it serves `db` too. Call before first use.
  void reserve_for(const hs_database_t* db);

  // A scratch held for the lifetime of the lease, then returned to the pool.
  class Lease {
   public:
    Lease(ScratchPool& pool, Scratch scratch) : pool_(pool), scratch_(std::move(scratch)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_.give_back(std::move(scratch_)); }
    hs_scratch_t* get() const noexcept { return scratch_.get(); }

   private:
    ScratchPool& pool_;
    Scratch scratch_;
  };

  Lease acquire();

 private:
  void give_back(Scratch scratch);

  Scratch template_;
  std::mutex mutex_;
  std::vector<Scratch> idle_;
};

}  // namespace llmward
