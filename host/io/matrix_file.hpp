// Reading centres, inputs and labels from .npy and .csv files. Every error is an
// infoflow::IoError whose one-line message starts with the path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "infoflow/infoflow.hpp"

namespace infoflow::io {

struct Matrix {  // owning row-major float64 matrix
  std::vector<double> values;
  std::size_t rows = 0, cols = 0;
  MatrixView<double> view() const { return {values.data(), rows, cols}; }
};

// .npy v1/v2/v3, C order, little-endian float32/float64 or integers; 2-D n x d, 1-D n x 1.
// Rejects empty arrays and non-finite values.
Matrix read_npy(const std::string& path);
// Comma-separated numbers, one row per line, optional header line, '#' comments.
Matrix read_csv(const std::string& path);
// .npy by its magic bytes, else .csv/.txt text.
Matrix read_matrix(const std::string& path);
// 1-D integer labels (.npy of any integer dtype, or floats holding exact integers).
std::vector<std::int64_t> read_npy_integers(const std::string& path);

void write_npy(const std::string& path, MatrixView<double> m);  // '<f8'
void write_npy(const std::string& path, const float* data, std::size_t rows, std::size_t cols);  // '<f4'

}  // namespace infoflow::io
