// safetensors files (the format PyTorch users save models in): an 8-byte little-endian
// header length N, N bytes of JSON header, then the tensors' bytes. Errors are IoError
// with a one-line message starting with the path.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "infoflow/infoflow.hpp"

namespace infoflow::io {

struct Tensor {
  std::string dtype;               // as stored: F64, F32, F16 or BF16
  std::vector<std::size_t> shape;
  std::vector<double> values;      // converted to float64, row-major
};

struct Safetensors {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

Safetensors read_safetensors(const std::string& path);
// Writes every tensor as dtype F32 or F64; header padded with spaces to 8 bytes.
void write_safetensors(const std::string& path, const Safetensors& st, const std::string& dtype = "F32");

}  // namespace infoflow::io
