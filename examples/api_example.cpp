// The README's C++ example: entropy of a two-component mixture, linked against libinfoflow.
#include <cstdio>

#include "infoflow/infoflow.hpp"

int main() {
  const double centers[] = {-1.0, 1.0};  // two centres in d = 1
  infoflow::EntropyOptions opt;
  opt.sigma = 1.0;
  opt.samples_per_center = 100000;
  opt.bounds = true;
  const infoflow::EntropyResult r = infoflow::mixture_entropy({centers, 2, 1}, opt);
  std::printf("h = %.5f +- %.5f nats in [%.5f, %.5f] on %s\n", r.entropy_nats, r.stderr_nats,
              r.bhattacharyya_lower_nats, r.kl_upper_nats,
              std::string(infoflow::backend_name(r.backend)).c_str());
}
