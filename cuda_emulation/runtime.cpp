// The emulated device of -DINFOFLOW_CUDA_EMULATION=ON: the CUDA runtime calls the project
// makes, over host memory, and the execution of kernel launches as cooperative fibers
// (see include/infoflow_cuda_emulation.hpp for the model and what it does not check).
//
// Fibers: each thread of a block runs on a stack of its own. The first entry goes through
// makecontext/setcontext; every later switch is _setjmp/_longjmp, which saves a few
// registers instead of the signal mask (swapcontext's system call): ~80 ns against ~700 ns
// a switch, and the dense kernel switches twice per centre tile per thread.
#undef _FORTIFY_SOURCE  // __longjmp_chk refuses jumps between stacks

#include "infoflow_cuda_emulation.hpp"  // first: its keywords before cuda_runtime.h

#include <cuda_runtime_api.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define INFOFLOW_EMU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define INFOFLOW_EMU_ASAN 1
#endif
#ifdef INFOFLOW_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace infoflow_emu {
namespace {

// ---- fibers ---------------------------------------------------------------------------
enum class State { Ready, AtBlockBarrier, AtLaneBarrier, Done };

#ifdef INFOFLOW_EMU_ASAN
constexpr std::size_t kStackBytes = std::size_t{512} << 10;  // ASan's redzones grow frames
#else
constexpr std::size_t kStackBytes = std::size_t{128} << 10;
#endif

struct Stack {
  char* base = nullptr;  // mapping, guard page first
  std::size_t bytes = 0;
  char* bottom() const { return base + page(); }
  std::size_t usable() const { return bytes - page(); }
  static std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }
};

struct Fiber {
  jmp_buf jb;
  ucontext_t uc;
  State state = State::Ready;
  unsigned mask = 0;
  bool started = false;
  ThreadContext ctx{};
  Stack stack;
  void* fake_stack = nullptr;  // ASan's bookkeeping across switches
};

// One per OS thread that runs blocks.
struct Worker {
  jmp_buf sched;
  std::vector<Fiber> fibers;  // the first n run the current block; the rest keep their stacks
  std::size_t n = 0;
  std::vector<std::uint64_t> slots;
  Fiber* cur = nullptr;
  const std::function<void()>* body = nullptr;
  std::string failure;  // non-empty: this block cannot go on
  void* sched_fake_stack = nullptr;
  const void* sched_bottom = nullptr;
  std::size_t sched_size = 0;
  ~Worker() {
    for (Fiber& f : fibers) munmap(f.stack.base, f.stack.bytes);
  }
};

thread_local Worker* t_worker = nullptr;
thread_local ThreadContext t_host_context{};  // built-ins read outside any kernel
thread_local ThreadContext* t_context = &t_host_context;

void start_switch(void** fake_save, const void* bottom, std::size_t size) {
#ifdef INFOFLOW_EMU_ASAN
  __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
  (void)fake_save, (void)bottom, (void)size;
#endif
}
void finish_switch(void* fake_save, const void** bottom_old, std::size_t* size_old) {
#ifdef INFOFLOW_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_save, bottom_old, size_old);
#else
  (void)fake_save, (void)bottom_old, (void)size_old;
#endif
}

// Back to the scheduler; returns when the scheduler resumes this fiber.
__attribute__((noinline)) void yield_to_scheduler() {
  Worker& w = *t_worker;
  Fiber& f = *w.cur;
  if (_setjmp(f.jb) == 0) {
    start_switch(&f.fake_stack, w.sched_bottom, w.sched_size);
    _longjmp(w.sched, 1);
  }
  finish_switch(f.fake_stack, &w.sched_bottom, &w.sched_size);
}

void fiber_entry() {
  Worker& w = *t_worker;
  finish_switch(nullptr, &w.sched_bottom, &w.sched_size);
  try {
    (*w.body)();
  } catch (const std::exception& e) {
    if (w.failure.empty()) w.failure = std::string("a kernel thread threw: ") + e.what();
  } catch (...) {
    if (w.failure.empty()) w.failure = "a kernel thread threw";
  }
  w.cur->state = State::Done;
  start_switch(nullptr, w.sched_bottom, w.sched_size);  // this fiber's frames are finished
  _longjmp(w.sched, 1);
}

// Runs f until it reaches a barrier or ends.
__attribute__((noinline)) void switch_to(Worker& w, Fiber& f) {
  w.cur = &f;
  t_context = &f.ctx;
  if (_setjmp(w.sched) == 0) {
    start_switch(&w.sched_fake_stack, f.stack.bottom(), f.stack.usable());
    if (!f.started) {
      f.started = true;
      getcontext(&f.uc);
      f.uc.uc_stack.ss_sp = f.stack.bottom();
      f.uc.uc_stack.ss_size = f.stack.usable();
      f.uc.uc_link = nullptr;
      makecontext(&f.uc, fiber_entry, 0);
      setcontext(&f.uc);
    }
    _longjmp(f.jb, 1);
  }
  finish_switch(w.sched_fake_stack, nullptr, nullptr);
  t_context = &t_host_context;
}

bool reverse_order() {
  static const bool reverse = [] {
    const char* v = std::getenv("INFOFLOW_CUDA_EMULATION_ORDER");
    if (v == nullptr || *v == 0 || std::strcmp(v, "forward") == 0) return false;
    if (std::strcmp(v, "reverse") == 0) return true;
    std::fprintf(stderr, "infoflow cuda emulation: INFOFLOW_CUDA_EMULATION_ORDER=%s is neither forward nor reverse\n", v);
    std::abort();
  }();
  return reverse;
}

// After a sweep every fiber is at a barrier or done: release what can go on. Returns
// false, with w.failure set, when nothing can (a barrier reached by part of the block).
bool release(Worker& w) {
  const std::size_t n = w.n;
  std::size_t at_block = 0, done = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Fiber& f = w.fibers[i];
    at_block += f.state == State::AtBlockBarrier, done += f.state == State::Done;
  }
  bool released = false;
  // Warp barriers: lanes of one warp waiting with the same mask, all of it present.
  for (std::size_t w0 = 0; w0 < n; w0 += 32) {
    const std::size_t w1 = std::min(n, w0 + 32);
    for (std::size_t i = w0; i < w1; ++i) {
      const Fiber& f = w.fibers[i];
      if (f.state != State::AtLaneBarrier) continue;
      bool all = true;
      for (unsigned l = 0; l < 32 && all; ++l) {
        if ((f.mask >> l & 1u) == 0) continue;
        const std::size_t j = w0 + l;
        all = j < w1 && w.fibers[j].state == State::AtLaneBarrier && w.fibers[j].mask == f.mask;
      }
      if (!all) continue;
      for (unsigned l = 0; l < 32; ++l)
        if (f.mask >> l & 1u) w.fibers[w0 + l].state = State::Ready;
      released = true;
    }
  }
  if (released) return true;
  if (at_block == n) {
    for (std::size_t i = 0; i < n; ++i) w.fibers[i].state = State::Ready;
    return true;
  }
  char msg[256];
  std::snprintf(msg, sizeof msg,
                "deadlock: %zu of %zu threads wait at __syncthreads, %zu at a warp intrinsic whose lanes "
                "do not all arrive, %zu have exited (a barrier reached by part of the block)",
                at_block, n, n - at_block - done, done);
  w.failure = msg;
  return false;
}

Stack map_stack() {
  Stack s;
  s.bytes = kStackBytes + Stack::page();
  void* p = mmap(nullptr, s.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("infoflow cuda emulation: mmap of a fiber stack");
    std::abort();
  }
  s.base = static_cast<char*>(p);
  mprotect(s.base, Stack::page(), PROT_NONE);  // an overflow faults instead of corrupting
  return s;
}

// One block, all its threads to the end. Returns the failure, or "" when it completed.
std::string run_block(Worker& w, dim3 grid, dim3 block, uint3 block_idx) {
  const std::size_t n = std::size_t{block.x} * block.y * block.z;
  while (w.fibers.size() < n) {
    w.fibers.emplace_back();
    w.fibers.back().stack = map_stack();
  }
  w.n = n;
  w.slots.assign(n, 0);
  w.failure.clear();
  for (std::size_t i = 0; i < n; ++i) {
    Fiber& f = w.fibers[i];
    f.state = State::Ready, f.started = false, f.fake_stack = nullptr, f.mask = 0;
    const auto lin = static_cast<unsigned>(i);
    f.ctx.thread_idx = {lin % block.x, lin / block.x % block.y, lin / (block.x * block.y)};
    f.ctx.block_idx = block_idx, f.ctx.block_dim = block, f.ctx.grid_dim = grid, f.ctx.linear = lin;
  }
  const bool reverse = reverse_order();
  for (;;) {
    for (std::size_t k = 0; k < n; ++k) {
      Fiber& f = w.fibers[reverse ? n - 1 - k : k];
      if (f.state == State::Ready) switch_to(w, f);
      if (!w.failure.empty()) break;
    }
    if (!w.failure.empty()) break;
    if (std::all_of(w.fibers.begin(), w.fibers.begin() + static_cast<std::ptrdiff_t>(n),
                    [](const Fiber& f) { return f.state == State::Done; }))
      break;
    if (!release(w)) break;
  }
  return w.failure;
}

// ---- errors -----------------------------------------------------------------------------
thread_local cudaError_t t_last_error = cudaSuccess;
thread_local cudaError_t t_pending = cudaSuccess;  // a failed launch, until synchronised

cudaError_t fail(cudaError_t e) {
  t_last_error = e;
  return e;
}
// Calls that synchronise report a failed launch, as a real device reports a kernel fault.
cudaError_t pending() {
  const cudaError_t e = t_pending;
  t_pending = cudaSuccess;
  return e == cudaSuccess ? e : fail(e);
}

// ---- device memory ----------------------------------------------------------------------
std::mutex g_mem_mutex;
struct Allocation {
  std::size_t bytes;    // as asked: copies are checked against it
  std::size_t rounded;  // what the pool counts
  int device;
};
std::map<std::uintptr_t, Allocation> g_allocations;  // by start address
std::size_t g_used = 0;

std::size_t capacity() {
  static const std::size_t bytes = [] {
    const char* v = std::getenv("INFOFLOW_CUDA_EMULATION_MEMORY");
    if (v == nullptr || *v == 0) return std::size_t{4} << 30;
    char* end = nullptr;
    const unsigned long long b = std::strtoull(v, &end, 10);
    if (end == v || *end != 0 || b == 0) {
      std::fprintf(stderr, "infoflow cuda emulation: INFOFLOW_CUDA_EMULATION_MEMORY=%s is not a byte count\n", v);
      std::abort();
    }
    return static_cast<std::size_t>(b);
  }();
  return bytes;
}

// The allocation [p, p + bytes) lies inside, or null.
const Allocation* find_allocation(const void* p, std::size_t bytes) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  auto it = g_allocations.upper_bound(a);
  if (it == g_allocations.begin()) return nullptr;
  --it;
  const std::size_t size = it->second.bytes;
  return a - it->first <= size && bytes <= size - (a - it->first) ? &it->second : nullptr;
}
bool on_device(const void* p, std::size_t bytes) { return find_allocation(p, bytes) != nullptr; }

cudaError_t check_copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return fail(cudaErrorInvalidValue);
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if ((dst_dev && !on_device(dst, bytes)) || (src_dev && !on_device(src, bytes))) return fail(cudaErrorInvalidValue);
  return cudaSuccess;
}

// INFOFLOW_CUDA_EMULATION_DEVICES: how many devices answer (default 2, so that choosing
// and restoring devices is exercised; 0: none, as on a machine without a GPU). They share
// one memory pool.
int device_count() {
  static const int n = [] {
    const char* v = std::getenv("INFOFLOW_CUDA_EMULATION_DEVICES");
    if (v == nullptr || *v == 0) return 2;
    char* end = nullptr;
    const long k = std::strtol(v, &end, 10);
    if (end == v || *end != 0 || k < 0 || k > 16) {
      std::fprintf(stderr, "infoflow cuda emulation: INFOFLOW_CUDA_EMULATION_DEVICES=%s is not 0-16\n", v);
      std::abort();
    }
    return static_cast<int>(k);
  }();
  return n;
}
thread_local int t_device = 0;  // cudaSetDevice's, per host thread as in CUDA

int threads_for_blocks() {
  static const int n = [] {
    const char* v = std::getenv("INFOFLOW_CUDA_EMULATION_THREADS");
    if (v != nullptr && *v != 0) return std::max(1, std::atoi(v));
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }();
  return n;
}

}  // namespace

ThreadContext& current() { return *t_context; }

void sync_block() {
  Worker* w = t_worker;
  if (w == nullptr || w->cur == nullptr) return;  // host code: nothing to wait for
  w->cur->state = State::AtBlockBarrier;
  yield_to_scheduler();
}

void sync_lanes(unsigned mask) {
  Worker* w = t_worker;
  if (w == nullptr || w->cur == nullptr) return;
  if ((mask >> (w->cur->ctx.linear % 32) & 1u) == 0) {
    w->failure = "a warp intrinsic's mask leaves out the calling lane";
    yield_to_scheduler();
  }
  w->cur->state = State::AtLaneBarrier;
  w->cur->mask = mask;
  yield_to_scheduler();
}

std::uint64_t* exchange_slots() { return t_worker->slots.data(); }

cudaError_t launch(dim3 grid, dim3 block, std::size_t /*shared_bytes*/, cudaStream_t /*stream*/,
                   const std::function<void()>& body) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  const unsigned long long blocks = 1ull * grid.x * grid.y * grid.z;
  if (threads == 0 || threads > 1024 || blocks == 0 || block.z > 64 || grid.y > 65535 || grid.z > 65535) {
    t_pending = cudaSuccess;
    return fail(cudaErrorInvalidConfiguration);
  }
  std::atomic<bool> failed{false};
  std::mutex msg_mutex;
  std::string first_failure;
  const int workers = static_cast<int>(std::min<unsigned long long>(blocks, threads_for_blocks()));
  std::atomic<unsigned long long> next{0};
  auto work = [&] {
    Worker local;
    Worker* saved = t_worker;
    t_worker = &local;
    local.body = &body;
    for (unsigned long long b = next++; b < blocks && !failed; b = next++) {
      const uint3 idx{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                      static_cast<unsigned>(b / (1ull * grid.x * grid.y))};
      std::string why = run_block(local, grid, block, idx);
      if (!why.empty()) {
        std::lock_guard<std::mutex> lock(msg_mutex);
        if (!failed.exchange(true)) {
          char where[96];
          std::snprintf(where, sizeof where, " (block %u,%u,%u of a %ux%ux%u grid)", idx.x, idx.y, idx.z, grid.x,
                        grid.y, grid.z);
          first_failure = why + where;
        }
      }
    }
    t_worker = saved;
  };
  if (workers <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (int i = 1; i < workers; ++i) pool.emplace_back(work);
    work();
    for (std::thread& t : pool) t.join();
  }
  if (failed) {
    std::fprintf(stderr, "infoflow cuda emulation: kernel launch failed: %s\n", first_failure.c_str());
    t_pending = cudaErrorLaunchFailure;
    return fail(cudaErrorLaunchFailure);
  }
  return cudaSuccess;
}

}  // namespace infoflow_emu

// ---- the CUDA runtime API, as the project calls it ------------------------------------------
using namespace infoflow_emu;

extern "C" {

cudaError_t cudaGetLastError() {
  const cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  t_pending = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return t_last_error; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    default: return "cudaErrorUnknown";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument (emulated device)";
    case cudaErrorMemoryAllocation: return "out of memory (emulated device, INFOFLOW_CUDA_EMULATION_MEMORY)";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument (emulated device)";
    case cudaErrorInvalidDevice: return "invalid device ordinal (emulated device)";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle (emulated device)";
    case cudaErrorLaunchFailure: return "unspecified launch failure (emulated device: see the message above)";
    default: return "unknown error (emulated device)";
  }
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = device_count();
  return *count > 0 ? cudaSuccess : fail(cudaErrorNoDevice);
}
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (device_count() == 0) return fail(cudaErrorNoDevice);
  *device = t_device;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return pending(); }
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void* /*func*/) {
  *attr = cudaFuncAttributes{};
  attr->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  if (device_count() == 0) return fail(cudaErrorNoDevice);
  const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + 255) / 256 * 256;
  {
    std::lock_guard<std::mutex> lock(g_mem_mutex);
    if (rounded > capacity() - g_used) return fail(cudaErrorMemoryAllocation);
    g_used += rounded;
  }
  // Exactly the bytes asked for (256-byte aligned, as cudaMalloc's): AddressSanitizer then
  // reports a kernel's read or write one element past them, which a real device's
  // allocation granularity would hide. The pool counts the rounded size.
  void* mem = nullptr;
  if (posix_memalign(&mem, 256, std::max<std::size_t>(bytes, 1)) != 0) mem = nullptr;
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  if (mem == nullptr) {
    g_used -= rounded;
    return fail(cudaErrorMemoryAllocation);
  }
  g_allocations[reinterpret_cast<std::uintptr_t>(mem)] = Allocation{std::max<std::size_t>(bytes, 1), rounded, t_device};
  *p = mem;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(g_mem_mutex);
    auto it = g_allocations.find(reinterpret_cast<std::uintptr_t>(p));
    if (it == g_allocations.end()) return fail(cudaErrorInvalidValue);
    g_used -= it->second.rounded;
    g_allocations.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  *total = capacity();
  *free_bytes = capacity() - g_used;
  return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attr, const void* p) {
  *attr = cudaPointerAttributes{};
  if (const Allocation* a = p != nullptr ? find_allocation(p, 1) : nullptr) {
    attr->type = cudaMemoryTypeDevice;
    attr->device = a->device;
    attr->devicePointer = const_cast<void*>(p);
  } else {
    attr->type = cudaMemoryTypeUnregistered;
    attr->device = -2;
    attr->hostPointer = const_cast<void*>(p);
  }
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (const cudaError_t e = pending(); e != cudaSuccess) return e;
  if (const cudaError_t e = check_copy(dst, src, bytes, kind); e != cudaSuccess) return e;
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  if (const cudaError_t e = check_copy(dst, src, bytes, kind); e != cudaSuccess) return e;
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!on_device(p, bytes)) return fail(cudaErrorInvalidValue);
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) { return cudaMemset(p, value, bytes); }

// Streams: launches and copies run synchronously, so a stream is only a handle.
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  *s = reinterpret_cast<cudaStream_t>(new char(0));
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete reinterpret_cast<char*>(s);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return pending(); }

}  // extern "C"
