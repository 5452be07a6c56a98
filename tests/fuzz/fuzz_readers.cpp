// libFuzzer harness for the file readers: .npy, .csv and safetensors (and the network
// layout on top of it). The readers take paths, so each input is written to a per-process
// temporary file first. Any infoflow::Error is an accepted outcome; a crash, a sanitizer
// report, a leak or an uncaught exception of another type is a bug. Which reader runs is
// chosen by INFOFLOW_FUZZ_TARGET at build time: npy, csv or safetensors.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "infoflow/network.hpp"
#include "io/matrix_file.hpp"
#include "io/safetensors.hpp"

namespace {

const std::string& scratch_path() {
  static const std::string path = "/tmp/infoflow_fuzz_" + std::to_string(::getpid()) + "." + INFOFLOW_FUZZ_TARGET;
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream f(scratch_path(), std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  const std::string target = INFOFLOW_FUZZ_TARGET;
  try {
    if (target == "npy") {
      infoflow::io::read_npy(scratch_path());
      infoflow::io::read_npy_integers(scratch_path());
    } else if (target == "csv") {
      infoflow::io::read_csv(scratch_path());
    } else {
      infoflow::io::read_safetensors(scratch_path());
      infoflow::load_network(scratch_path(), "tanh");
    }
  } catch (const infoflow::Error&) {
  }
  return 0;
}
