// log_density_on_device and mixture_entropy_on_device: inputs already in GPU memory, read
// in place (issue 5's zero-copy path for CUDA tensors). Agreement with the host-memory API
// on the same data, for float32 and float64 rows with padding between them; bad input
// named. Needs a device: skips without one (the no-device error is tested in
// test_backends.cpp).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace infoflow {
namespace {

struct DeviceCopy {  // rows x cols of x, each row padded to `stride` elements, on the device
  void* ptr = nullptr;
  template <class T>
  DeviceCopy(const std::vector<double>& x, std::size_t rows, std::size_t cols, std::size_t stride, T) {
    std::vector<T> padded(rows * stride, T(7));  // padding a reader must skip
    for (std::size_t i = 0; i < rows; ++i) {
      for (std::size_t k = 0; k < cols; ++k) padded[i * stride + k] = static_cast<T>(x[i * cols + k]);
    }
    EXPECT_EQ(cudaMalloc(&ptr, padded.size() * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(ptr, padded.data(), padded.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceCopy() { cudaFree(ptr); }
};

TEST(DeviceInput, MatchesHostApiForFloat32AndFloat64Rows) {
  INFOFLOW_SKIP_IF_UNAVAILABLE(Backend::Cuda);
  const std::size_t m = 700, n = 1500, d = 5, stride = 8;
  const double sigma = 0.3;
  auto q = testing::random_matrix(m, d, 1), c = testing::random_matrix(n, d, 2);
  for (double& v : c) v += 3;  // off-centre data: the device computes the mean itself
  std::vector<double> expected(m), got(m);
  ComputeOptions opt;
  opt.backend = Backend::Cpu;
  opt.tolerance = 0;
  log_density({q.data(), m, d}, {c.data(), n, d}, {}, sigma, {expected.data(), m}, opt);
  // float64 rows: the same inputs as the host path, so the same float32 rounding.
  {
    const DeviceCopy dq(q, m, d, stride, 0.0), dc(c, n, d, stride, 0.0);
    log_density_on_device({dq.ptr, m, d, stride, DType::Float64}, {dc.ptr, n, d, stride, DType::Float64}, {},
                          sigma, {got.data(), m});
    for (std::size_t i = 0; i < m; ++i) EXPECT_NEAR(got[i], expected[i], 1e-5 * (1 + std::abs(expected[i]))) << i;
  }
  // float32 rows: the inputs rounded to float32 first, against the host path on those.
  {
    std::vector<double> q32(q), c32(c);
    for (double& v : q32) v = static_cast<float>(v);
    for (double& v : c32) v = static_cast<float>(v);
    log_density({q32.data(), m, d}, {c32.data(), n, d}, {}, sigma, {expected.data(), m}, opt);
    const DeviceCopy dq(q32, m, d, stride, 0.f), dc(c32, n, d, d, 0.f);
    log_density_on_device({dq.ptr, m, d, stride, DType::Float32}, {dc.ptr, n, d, d, DType::Float32}, {},
                          sigma, {got.data(), m});
    for (std::size_t i = 0; i < m; ++i) EXPECT_NEAR(got[i], expected[i], 1e-5 * (1 + std::abs(expected[i]))) << i;
  }
  // Weights (host memory) as the host path takes them.
  std::vector<double> w(n);
  for (std::size_t j = 0; j < n; ++j) w[j] = 1.0 + static_cast<double>(j % 7);
  double total = 0;
  for (double v : w) total += v;
  for (double& v : w) v /= total;
  log_density({q.data(), m, d}, {c.data(), n, d}, {w.data(), n}, sigma, {expected.data(), m}, opt);
  const DeviceCopy dq(q, m, d, d, 0.0), dc(c, n, d, d, 0.0);
  log_density_on_device({dq.ptr, m, d, d, DType::Float64}, {dc.ptr, n, d, d, DType::Float64}, {w.data(), n},
                        sigma, {got.data(), m});
  for (std::size_t i = 0; i < m; ++i) EXPECT_NEAR(got[i], expected[i], 1e-5 * (1 + std::abs(expected[i]))) << i;
}

TEST(DeviceInput, NamesBadInput) {
  INFOFLOW_SKIP_IF_UNAVAILABLE(Backend::Cuda);
  const std::size_t m = 40, n = 50, d = 3;
  auto q = testing::random_matrix(m, d, 1), c = testing::random_matrix(n, d, 2);
  std::vector<double> out(m);
  c[17 * d + 1] = std::nan("");
  {
    const DeviceCopy dq(q, m, d, d, 0.0), dc(c, n, d, d, 0.0);
    try {
      log_density_on_device({dq.ptr, m, d, d, DType::Float64}, {dc.ptr, n, d, d, DType::Float64}, {}, 1.0,
                            {out.data(), m});
      ADD_FAILURE() << "NaN centre accepted";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("centers row 17"), std::string::npos) << e.what();
    }
    // A host pointer where GPU memory is expected.
    EXPECT_THROW(log_density_on_device({q.data(), m, d, d, DType::Float64}, {dc.ptr, n, d, d, DType::Float64},
                                       {}, 1.0, {out.data(), m}),
                 InvalidArgument);
    EXPECT_THROW(log_density_on_device({dq.ptr, m, d, d, DType::Float64}, {dc.ptr, n, d, d, DType::Float64}, {},
                                       0.0, {out.data(), m}),
                 InvalidArgument);  // sigma
    EXPECT_THROW(log_density_on_device({dq.ptr, m, d, d - 1, DType::Float64}, {dc.ptr, n, d, d, DType::Float64},
                                       {}, 1.0, {out.data(), m}),
                 InvalidArgument);  // stride below the columns
  }
}

// The same options on the cpu backend, whose draws are made on the host (the cuda backend's
// exact estimate draws on the device too).
EntropyOptions on_cpu(EntropyOptions o) {
  o.compute.backend = Backend::Cpu;
  return o;
}

// The Monte Carlo draws made on the device are the host's (same Philox rows), so the
// estimate equals mixture_entropy's on the cpu backend with the same seed, up to the
// float32 rounding of the queries (the host rounds y = c + sigma z, the device
// (c - mean) / sigma + z): 1e-6 relative here. Off-centre, weighted, 3 draws per centre,
// with and without the control variate, and the pairwise bounds.
TEST(DeviceInput, MixtureEntropyMatchesHostDraws) {
  INFOFLOW_SKIP_IF_UNAVAILABLE(Backend::Cuda);
  const std::size_t n = 900, d = 5, stride = 7;
  auto c = testing::random_matrix(n, d, 4);
  for (double& v : c) v = 2 + 0.5 * v;
  std::vector<double> w(n);
  double total = 0;
  for (std::size_t j = 0; j < n; ++j) total += (w[j] = 1.0 + static_cast<double>(j % 5));
  for (double& v : w) v /= total;
  const DeviceCopy dc(c, n, d, stride, 0.0);
  for (const bool weighted : {false, true}) {
    for (const bool cv : {true, false}) {
      EntropyOptions o;
      o.sigma = 0.2, o.samples_per_center = 3, o.seed = 11, o.bounds = true, o.control_variate = cv;
      o.compute.backend = Backend::Cuda;
      o.compute.tolerance = 0;  // the device path is exact: so is the reference here
      const Span<const double> ws = weighted ? Span<const double>{w.data(), n} : Span<const double>{};
      const EntropyResult host = mixture_entropy({c.data(), n, d}, ws, on_cpu(o));
      const EntropyResult dev = mixture_entropy_on_device({dc.ptr, n, d, stride, DType::Float64}, ws, o);
      const std::string what = std::string(weighted ? "weighted" : "uniform") + (cv ? ", control variate" : "");
      EXPECT_EQ(dev.samples, n * 3) << what;
      EXPECT_EQ(dev.backend, Backend::Cuda) << what;
      EXPECT_NEAR(dev.entropy_nats, host.entropy_nats, 1e-6 * (1 + std::abs(host.entropy_nats))) << what;
      EXPECT_NEAR(dev.stderr_nats, host.stderr_nats, 1e-3 * host.stderr_nats) << what;
      EXPECT_NEAR(dev.kl_upper_nats, host.kl_upper_nats, 1e-5 * (1 + std::abs(host.kl_upper_nats))) << what;
      EXPECT_NEAR(dev.bhattacharyya_lower_nats, host.bhattacharyya_lower_nats,
                  1e-5 * (1 + std::abs(host.bhattacharyya_lower_nats))) << what;
    }
  }
  // More draws than one chunk of queries holds (2^20 rows at d = 2): two chunks, the
  // second from Philox row 2^20. Few centres keep the 2^20 x n pairs cheap enough for the
  // emulated device under AddressSanitizer.
  {
    const std::size_t n2 = 16, d2 = 2;
    const auto c2 = testing::random_matrix(n2, d2, 9);
    EntropyOptions o;
    o.sigma = 0.1, o.samples_per_center = (std::size_t{1} << 20) / n2 + 3, o.seed = 3;
    o.compute.backend = Backend::Cuda;
    o.compute.tolerance = 0;
    const EntropyResult host = mixture_entropy({c2.data(), n2, d2}, on_cpu(o));
    const DeviceCopy dc2(c2, n2, d2, d2, 0.0);
    const EntropyResult dev = mixture_entropy_on_device({dc2.ptr, n2, d2, d2, DType::Float64}, {}, o);
    ASSERT_GT(dev.samples, std::size_t{1} << 20);
    EXPECT_NEAR(dev.entropy_nats, host.entropy_nats, 1e-6 * (1 + std::abs(host.entropy_nats)));
    EXPECT_NEAR(dev.stderr_nats, host.stderr_nats, 1e-3 * host.stderr_nats);
  }
  // Row shapes of the device draws: d = 1 (half a normal pair), 70 (a warp per row, lanes
  // with one or two pairs), against the host's draws. With the control variate the estimate
  // checks |z|^2 (its standard error, ~1e-7 at d = 70, is float32 rounding noise, which the
  // two roundings of y make differently); without it the standard error checks the draws.
  for (const std::size_t d3 : {1, 70}) {
    const std::size_t n3 = 150;
    const auto c3 = testing::random_matrix(n3, d3, 12);
    const DeviceCopy dc3(c3, n3, d3, d3, 0.0);
    for (const bool cv : {true, false}) {
      EntropyOptions o;
      o.sigma = 0.3, o.samples_per_center = 2, o.seed = 8, o.control_variate = cv;
      o.compute.backend = Backend::Cuda;
      o.compute.tolerance = 0;
      const EntropyResult host = mixture_entropy({c3.data(), n3, d3}, on_cpu(o));
      const EntropyResult dev = mixture_entropy_on_device({dc3.ptr, n3, d3, d3, DType::Float64}, {}, o);
      EXPECT_NEAR(dev.entropy_nats, host.entropy_nats, 1e-6 * (1 + std::abs(host.entropy_nats)))
          << "d = " << d3 << (cv ? ", control variate" : "");
      if (!cv) EXPECT_NEAR(dev.stderr_nats, host.stderr_nats, 1e-3 * host.stderr_nats) << "d = " << d3;
    }
  }
  // float32 centres: against the host on the same float32-rounded values.
  std::vector<double> c32(c);
  for (double& v : c32) v = static_cast<float>(v);
  EntropyOptions o;
  o.sigma = 0.2, o.samples_per_center = 2, o.seed = 5;
  o.compute.tolerance = 0;
  const EntropyResult host = mixture_entropy({c32.data(), n, d}, on_cpu(o));
  const DeviceCopy dc32(c32, n, d, d, 0.f);
  const EntropyResult dev = mixture_entropy_on_device({dc32.ptr, n, d, d, DType::Float32}, {}, o);
  EXPECT_NEAR(dev.entropy_nats, host.entropy_nats, 1e-6 * (1 + std::abs(host.entropy_nats)));
  // Refused: another backend, samples 0, a NaN centre (named), sigma too small for float32.
  o.compute.backend = Backend::Cpu;
  EXPECT_THROW(mixture_entropy_on_device({dc.ptr, n, d, stride, DType::Float64}, {}, o), InvalidArgument);
  o.compute.backend = Backend::Auto;
  o.samples_per_center = 0;
  EXPECT_THROW(mixture_entropy_on_device({dc.ptr, n, d, stride, DType::Float64}, {}, o), InvalidArgument);
  o.samples_per_center = 1;
  c[40 * d + 2] = std::nan("");
  const DeviceCopy bad(c, n, d, d, 0.0);
  try {
    mixture_entropy_on_device({bad.ptr, n, d, d, DType::Float64}, {}, o);
    ADD_FAILURE() << "NaN centre accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("centers row 40"), std::string::npos) << e.what();
  }
  o.sigma = 1e-7;  // data spread ~1 is 1e7 sigma from its mean: past float32's 2^18
  EXPECT_THROW(mixture_entropy_on_device({dc.ptr, n, d, stride, DType::Float64}, {}, o), InvalidArgument);
}

// Two GPUs: data on the one that is not current runs there, and the caller's current device
// is the same afterwards; ComputeOptions::cuda_device picks the GPU of a host-data call the
// same way (the emulated build has two devices).
TEST(CudaDevices, CallsRunOnTheirDeviceAndLeaveTheCallersCurrent) {
  INFOFLOW_SKIP_IF_UNAVAILABLE(Backend::Cuda);
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs two CUDA devices";
  const std::size_t n = 300, m = 120, d = 3;
  const auto c = testing::random_matrix(n, d, 1), q = testing::random_matrix(m, d, 2);
  ComputeOptions o;
  o.backend = Backend::Cuda, o.tolerance = 0;
  std::vector<double> ref(m), got(m);
  log_density({q.data(), m, d}, {c.data(), n, d}, {}, 0.4, {ref.data(), m}, o);
  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
  const DeviceCopy dc(c, n, d, d, 0.0), dq(q, m, d, d, 0.0);  // on device 1
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  log_density_on_device({dq.ptr, m, d, d, DType::Float64}, {dc.ptr, n, d, d, DType::Float64}, {}, 0.4,
                        {got.data(), m});
  int current = -1;
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, 0) << "log_density_on_device left the caller on the data's device";
  for (std::size_t i = 0; i < m; ++i) EXPECT_NEAR(got[i], ref[i], 1e-5 * (1 + std::abs(ref[i]))) << i;
  EntropyOptions eo;
  eo.sigma = 0.4, eo.seed = 3, eo.compute.tolerance = 0;
  const EntropyResult e = mixture_entropy_on_device({dc.ptr, n, d, d, DType::Float64}, {}, eo);
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, 0) << "mixture_entropy_on_device left the caller on the data's device";
  EXPECT_TRUE(std::isfinite(e.entropy_nats));
  o.cuda_device = 1;
  log_density({q.data(), m, d}, {c.data(), n, d}, {}, 0.4, {got.data(), m}, o);
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, 0) << "cuda_device = 1 left the caller on device 1";
  for (std::size_t i = 0; i < m; ++i) EXPECT_EQ(got[i], ref[i]) << i;  // the same kernel, the same sums
  o.cuda_device = cuda_device_count();
  EXPECT_THROW(log_density({q.data(), m, d}, {c.data(), n, d}, {}, 0.4, {got.data(), m}, o), InvalidArgument);
  o.cuda_device = -2;
  EXPECT_THROW(log_density({q.data(), m, d}, {c.data(), n, d}, {}, 0.4, {got.data(), m}, o), InvalidArgument);
}

}  // namespace
}  // namespace infoflow
