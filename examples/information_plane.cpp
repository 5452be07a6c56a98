// The information plane of one network state from C++: what `infoflow train` writes to
// metrics.csv for a checkpoint, here for a freshly initialised 12-10-7-5-4-3-2 tanh network
// on the built-in 12-bit task. Built as build/information_plane_example.
#include <cstdio>

#include "infoflow/information_plane.hpp"
#include "infoflow/train.hpp"

int main() {
  const infoflow::Dataset data = infoflow::szt_dataset();
  const infoflow::Network net = infoflow::init_network({12, 10, 7, 5, 4, 3, 2}, infoflow::Activation::Tanh, 0);
  infoflow::CheckpointOptions opt;
  opt.estimation.beta = 0.005;
  opt.estimation.samples_per_input = 20;
  const infoflow::CheckpointMeasures m =
      infoflow::measure_checkpoint(net, data.view(), {data.labels.data(), data.labels.size()}, opt);
  std::printf("layer  I(X;T) nats         I(Y;T) nats         H_bin   I(X;Bin T)  H_cluster\n");
  for (const infoflow::LayerMeasures& l : m.layers) {
    std::printf("%5zu  %7.4f +- %.4f   %7.4f +- %.4f   %6.3f  %9.3f  %9.3f\n", l.information.layer,
                l.information.I_XT_nats, l.information.I_XT_stderr_nats, l.information.I_YT_nats,
                l.information.I_YT_stderr_nats, l.H_bin_nats, l.I_XT_bin_nats, l.H_cluster_nats);
  }
  std::printf("%.2f s on %s\n", m.seconds, std::string(infoflow::backend_name(m.backend)).c_str());
}
