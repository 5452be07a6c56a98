// detail::activate_rows: a layer's bias and activation over a block of rows in SIMD.
// glibc's scalar tanh was ~40% of a noisy forward pass once the noise was batched
// (SZT network, 409 600 samples).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "nn/activate_rows.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "nn/forward.hpp"

HWY_BEFORE_NAMESPACE();
namespace infoflow::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V>
HWY_INLINE V Activate(D d, Activation a, V x) {
  switch (a) {
    case Activation::Tanh: return hn::Tanh(d, x);
    case Activation::Relu: return hn::Max(x, hn::Zero(d));
    case Activation::LeakyRelu: return hn::IfThenElse(hn::Gt(x, hn::Zero(d)), x, hn::Mul(x, hn::Set(d, 0.01)));
    case Activation::Sigmoid: {
      const V one = hn::Set(d, 1.0);
      return hn::Div(one, hn::Add(one, hn::Exp(d, hn::Neg(x))));
    }
    case Activation::Linear: return x;
  }
  return x;
}

// The block is one flat array of rows x width values; the bias repeats with period
// width, so rep (the bias over and over, width + N long) gives each vector its bias
// from an offset: whole vectors whatever the width (the SZT layers are 2 to 12 wide).
void ActivateRows(Activation a, const double* bias, std::size_t width, double* x, std::size_t rows) {
  if (width == 0 || rows == 0) return;  // nothing to do, and rep's period would be 0
  const hn::ScalableTag<double> d;
  const std::size_t N = hn::Lanes(d), n = rows * width;
  std::vector<double> rep(width + N);
  for (std::size_t j = 0; j < rep.size(); ++j) rep[j] = bias[j % width];
  std::size_t i = 0, phase = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(Activate(d, a, hn::Add(hn::LoadU(d, x + i), hn::LoadU(d, rep.data() + phase))), d, x + i);
    phase = (phase + N) % width;
  }
  if (i < n) {
    double tail[hn::MaxLanes(d)] = {};
    std::copy(x + i, x + n, tail);
    hn::StoreU(Activate(d, a, hn::Add(hn::LoadU(d, tail), hn::LoadU(d, rep.data() + phase))), d, tail);
    std::copy(tail, tail + (n - i), x + i);
  }
}

}  // namespace infoflow::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace infoflow::detail {
HWY_EXPORT(ActivateRows);

void activate_rows(Activation a, const double* bias, std::size_t width, double* x, std::size_t rows) {
  HWY_DYNAMIC_DISPATCH(ActivateRows)(a, bias, width, x, rows);
}
}  // namespace infoflow::detail
#endif  // HWY_ONCE
