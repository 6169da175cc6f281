#include "llmward/hs_handles.hpp"

#include <new>

#include "llmward/errors.hpp"

namespace llmward {

void ScratchPool::reserve_for(const hs_database_t* db) {
  if (db == nullptr) return;
  hs_scratch_t* raw = template_.release();
  const hs_error_t err = hs_alloc_scratch(db, &raw);
  template_.reset(raw);
  if (err != HS_SUCCESS) throw ScanError("hyperscan: cannot allocate scratch space (error " +
                                         std::to_string(err) + ")");
}

ScratchPool::Lease ScratchPool::acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      Scratch scratch = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(scratch));
    }
  }
  hs_scratch_t* clone = nullptr;
  if (hs_clone_scratch(template_.get(), &clone) != HS_SUCCESS) throw std::bad_alloc();
  return Lease(*this, Scratch(clone));
}

void ScratchPool::give_back(Scratch scratch) {
  std::lock_guard<std::mutex> lock(mutex_);
  idle_.push_back(std::move(scratch));
}

}  // namespace llmward
