// The .npy and .csv readers: exact round trips, hand-built files laid out byte for byte
// as numpy writes them, files numpy itself wrote, and every class of bad input, each
// rejected with an IoError whose one-line message starts with the path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "io/matrix_file.hpp"

namespace infoflow::io {
namespace {

namespace fs = std::filesystem;

// numpy's layout: magic, version, little-endian header length, then the dict padded with
// spaces so that the data starts at a multiple of 64 bytes, ending in '\n'.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  header.append((64 - (8 + len_bytes + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (std::size_t i = 0; i < len_bytes; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string dict_for(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

template <class T>
std::string raw(const std::vector<T>& v, bool big_endian = false) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), v.data(), s.size());
  if (big_endian) {
    for (std::size_t i = 0; i < s.size(); i += sizeof(T)) std::reverse(s.begin() + i, s.begin() + i + sizeof(T));
  }
  return s;
}

// The error must be an IoError with one line "PATH: ..." that mentions `word`.
void expect_io_error(const std::function<void()>& read, const std::string& path, const std::string& word) {
  try {
    read();
  } catch (const IoError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind(path + ": ", 0), 0u) << m;
    EXPECT_NE(m.find(word), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    return;
  }
  ADD_FAILURE() << "no IoError for " << path;
}

#define EXPECT_IO_ERROR(statement, path, word)            \
  do {                                                    \
    SCOPED_TRACE(word);                                   \
    expect_io_error([&] { (void)(statement); }, path, word); \
  } while (0)

class IoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = fs::temp_directory_path() / ("infoflow_io_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string file(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }
  std::string npy(const std::string& name, const std::string& dict, const std::string& data, int major = 1) const {
    return file(name, npy_bytes(dict, data, major));
  }
  std::string slurp(const std::string& p) const {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  }
  template <class T>
  void check_integer_dtype(const std::string& descr, const std::vector<T>& v, bool big_endian = false) {
    SCOPED_TRACE(descr);
    const std::string p = npy("int.npy", dict_for(descr, "(4,)"), raw(v, big_endian));
    const Matrix m = read_npy(p);
    const std::vector<std::int64_t> labels = read_npy_integers(p);
    ASSERT_EQ(m.rows, 4u);
    ASSERT_EQ(labels.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(m.values[i], static_cast<double>(v[i]));
      EXPECT_EQ(labels[i], static_cast<std::int64_t>(v[i]));
    }
  }
  fs::path dir_;
};

// ---- .npy: reading what is valid ------------------------------------------------------

TEST_F(IoTest, NpyFloat64RoundTripIsBitExact) {
  const std::vector<double> v = {0.0, -0.0, 1.0 / 3, -1e-300, 4.9e-324, std::numeric_limits<double>::max(), -2.5, 1e10};
  write_npy(path("a.npy"), {v.data(), 4, 2});
  const Matrix m = read_npy(path("a.npy"));
  EXPECT_EQ(m.rows, 4u);
  EXPECT_EQ(m.cols, 2u);
  ASSERT_EQ(m.values.size(), v.size());
  EXPECT_EQ(std::memcmp(m.values.data(), v.data(), v.size() * sizeof(double)), 0);
  EXPECT_EQ(m.view().data, m.values.data());
  EXPECT_EQ(m.view().cols, 2u);
}

// map_matrix: float64 little-endian .npy used in place (mapped, not copied), bit for bit;
// float32 and CSV read as by read_matrix; NaN in a mapped file rejected the same way.
TEST_F(IoTest, MappedFloat64IsUsedInPlace) {
  const std::vector<double> v = {0.0, -0.0, 1.0 / 3, -1e-300, 4.9e-324, std::numeric_limits<double>::max(), -2.5, 1e10};
  write_npy(path("a.npy"), {v.data(), 4, 2});
  const Matrix m = map_matrix(path("a.npy"));
  ASSERT_TRUE(m.mapped);
  EXPECT_TRUE(m.values.empty());
  EXPECT_EQ(m.rows, 4u);
  EXPECT_EQ(m.view().cols, 2u);
  EXPECT_EQ(std::memcmp(m.view().data, v.data(), v.size() * sizeof(double)), 0);

  const std::vector<float> f = {1.5f, -2.25f, 3.0f};
  write_npy(path("f.npy"), f.data(), 3, 1);
  const Matrix mf = map_matrix(path("f.npy"));
  EXPECT_FALSE(mf.mapped);
  EXPECT_EQ(mf.values, (std::vector<double>{1.5, -2.25, 3.0}));
  EXPECT_EQ(mf.view().data, mf.values.data());

  const std::vector<double> bad = {1.0, std::nan(""), 2.0, 3.0};
  write_npy(path("nan.npy"), {bad.data(), 2, 2});
  try {
    map_matrix(path("nan.npy"));
    FAIL() << "NaN accepted";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite value (nan) at row 0, column 1"), std::string::npos) << e.what();
  }
}

TEST_F(IoTest, NpyFloat32RoundTripIsExact) {
  const std::vector<float> v = {0.1f, -3.5f, 1e-40f, std::numeric_limits<float>::max(), 7.0f, -0.0f};
  write_npy(path("f.npy"), v.data(), 2, 3);
  const Matrix m = read_npy(path("f.npy"));
  ASSERT_EQ(m.rows, 2u);
  ASSERT_EQ(m.cols, 3u);
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ(m.values[i], static_cast<double>(v[i])) << i;
  EXPECT_TRUE(std::signbit(m.values[5]));
}

// write_npy must produce exactly what numpy writes for the same array.
TEST_F(IoTest, NpyWriterMatchesNumpyLayoutByteForByte) {
  const std::vector<double> v = {1, 2, 3, 4, 5, 6};
  const std::string expected = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", raw(v));
  EXPECT_EQ(expected.size(), 128u + 48u);  // header padded to 128, then 6 doubles
  write_npy(path("w.npy"), {v.data(), 3, 2});
  EXPECT_EQ(slurp(path("w.npy")), expected);
  const Matrix m = read_npy(file("hand.npy", expected));
  EXPECT_EQ(m.rows, 3u);
  EXPECT_EQ(m.cols, 2u);
  EXPECT_EQ(m.values, v);
}

TEST_F(IoTest, NpyOneDimensionalIsAColumn) {
  const Matrix m = read_npy(npy("v.npy", dict_for("<f8", "(3,)"), raw<double>({1.5, -2, 3})));
  EXPECT_EQ(m.rows, 3u);
  EXPECT_EQ(m.cols, 1u);
  EXPECT_EQ(m.values, (std::vector<double>{1.5, -2, 3}));
}

TEST_F(IoTest, NpyHeaderVersions2And3) {
  for (const int major : {2, 3}) {
    const Matrix m = read_npy(npy("v.npy", dict_for("<f4", "(1, 2)"), raw<float>({0.5f, 2}), major));
    EXPECT_EQ(m.values, (std::vector<double>{0.5, 2})) << major;
  }
}

TEST_F(IoTest, NpyHeaderKeysInAnyOrderAndWhitespace) {
  for (const std::string dict : {"{'shape': (2, 2), 'descr': '<f4', 'fortran_order': False}",
                                 "{ \"fortran_order\" : False ,\n\t'shape':(2,2),'descr':'<f4' , }",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 2L), }"}) {
    const Matrix m = read_npy(npy("k.npy", dict, raw<float>({1, 2, 3, 4})));
    EXPECT_EQ(m.rows, 2u) << dict;
    EXPECT_EQ(m.values, (std::vector<double>{1, 2, 3, 4})) << dict;
  }
}

TEST_F(IoTest, NpyIntegerDtypes) {
  check_integer_dtype<std::uint8_t>("|u1", {0, 1, 200, 255});
  check_integer_dtype<std::int8_t>("|i1", {-128, -1, 0, 127});
  check_integer_dtype<std::uint16_t>("<u2", {0, 65535, 7, 300});
  check_integer_dtype<std::int16_t>("<i2", {-32768, 32767, -1, 5});
  check_integer_dtype<std::uint32_t>("<u4", {0, 4294967295u, 9, 10});
  check_integer_dtype<std::int32_t>("<i4", {INT32_MIN, INT32_MAX, -7, 0});
  check_integer_dtype<std::uint64_t>("<u8", {0, std::uint64_t{1} << 53, 3, 4});
  check_integer_dtype<std::int64_t>("<i8", {-(std::int64_t{1} << 53), std::int64_t{1} << 53, -1, 2});
}

TEST_F(IoTest, NpyBigEndianIsByteSwapped) {
  check_integer_dtype<std::int32_t>(">i4", {-5, 70000, 0, 1}, true);
  check_integer_dtype<std::uint16_t>(">u2", {258, 1, 0, 65535}, true);
  const Matrix m = read_npy(npy("be.npy", dict_for(">f8", "(2,)"), raw<double>({1.5, -2.25}, true)));
  EXPECT_EQ(m.values, (std::vector<double>{1.5, -2.25}));
}

// ---- .npy: rejecting what is not ----------------------------------------------------------

TEST_F(IoTest, NpyRejectsMissingFileAndBadMagic) {
  const std::string missing = path("missing.npy");
  EXPECT_IO_ERROR(read_npy(missing), missing, "cannot open");
  EXPECT_IO_ERROR(read_npy_integers(missing), missing, "cannot open");
  EXPECT_IO_ERROR(read_npy(dir_.string()), dir_.string(), "is a directory");
  for (const std::string& bytes : {std::string("\x93NUMPX\x01\x00", 8), std::string("1,2\n3,4\n"), std::string(),
                                  std::string("\x93NU")}) {
    const std::string p = file("bad.npy", bytes);
    EXPECT_IO_ERROR(read_npy(p), p, "bad magic");
  }
  const std::string v4 = file("v4.npy", "\x93NUMPY\x04" + std::string(20, '\0'));
  EXPECT_IO_ERROR(read_npy(v4), v4, "version 4.0");
}

TEST_F(IoTest, NpyRejectsHeaderLengthPastEndOfFile) {
  const std::string v1 = file("v1.npy", std::string("\x93NUMPY\x01\x00\xff\xff{'descr'", 17));
  EXPECT_IO_ERROR(read_npy(v1), v1, "past the end of the file");
  const std::string v2 = file("v2.npy", std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14));
  EXPECT_IO_ERROR(read_npy(v2), v2, "past the end of the file");
  const std::string cut = file("cut.npy", std::string("\x93NUMPY\x02\x00\xff", 9));
  EXPECT_IO_ERROR(read_npy(cut), cut, "truncated");
}

TEST_F(IoTest, NpyRejectsMalformedHeaders) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no dict here", "malformed"},
      {"{'descr': '<f8', 'fortran_order': False}", "no 'shape'"},
      {"{'descr': '<f8', 'shape': (2,)}", "no 'fortran_order'"},
      {"{'fortran_order': False, 'shape': (2,)}", "no 'descr'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}", "'extra'"},
      {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", "repeated"},
      {"{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2,)}", "True or False"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}", "non-negative"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} junk", "after the dict"},
      {"{'descr': '<f8, 'fortran_order': False, 'shape': (2,)}", "malformed"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)", "malformed"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3", "malformed"},
      {"{'descr': <f8, 'fortran_order': False, 'shape': (2,)}", "quoted string"},
  };
  for (const auto& [dict, word] : cases) {
    const std::string p = npy("m.npy", dict, raw<double>({1, 2}));
    EXPECT_IO_ERROR(read_npy(p), p, word);
  }
}

TEST_F(IoTest, NpyRejectsUnsupportedDtypesNamingThem) {
  for (const std::string descr : {"<c8", "<f2", "|b1", "|f8", "<U4", "|O", "<f16", "f8", "<i3", "<f8x"}) {
    const std::string p = npy("d.npy", dict_for(descr, "(2,)"), std::string(16, '\0'));
    EXPECT_IO_ERROR(read_npy(p), p, "unsupported dtype '" + descr + "'");
  }
  const std::string p = npy("s.npy", "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,)}", raw<double>({1, 2}));
  EXPECT_IO_ERROR(read_npy(p), p, "structured");
}

TEST_F(IoTest, NpyRejectsBadShapesAndFortranOrder) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"()", "1-D or 2-D"},
      {"(1, 2, 1)", "1-D or 2-D"},
      {"(4294967296, 4294967296)", "too large"},
      {"(99999999999999999999999,)", "too large"},
  };
  for (const auto& [shape, word] : cases) {
    const std::string p = npy("s.npy", dict_for("<f8", shape), raw<double>({1, 2}));
    EXPECT_IO_ERROR(read_npy(p), p, word);
  }
  const std::string f = npy("f.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", raw<double>({1, 2, 3, 4}));
  EXPECT_IO_ERROR(read_npy(f), f, "Fortran order not supported; save with np.ascontiguousarray");
}

TEST_F(IoTest, NpyRejectsDataSizeMismatch) {
  const std::string shorter = npy("t.npy", dict_for("<f8", "(4, 2)"), std::string(40, '\0'));
  EXPECT_IO_ERROR(read_npy(shorter), shorter, "truncated: shape (4, 2) of '<f8' needs 64 bytes of data, the file has 40");
  const std::string longer = npy("l.npy", dict_for("<f4", "(2,)"), std::string(9, '\0'));
  EXPECT_IO_ERROR(read_npy(longer), longer, "trailing bytes");
}

// A header may claim anything; the claim is checked against the file size first, so the
// answer is immediate and nothing near the claimed size is ever allocated.
TEST_F(IoTest, NpyHostileHeaderFailsFastWithoutAllocating) {
  const auto start = std::chrono::steady_clock::now();
  const std::string p = npy("h.npy", dict_for("<f8", "(1000000000, 1000000000)"), raw<double>({1}));
  EXPECT_IO_ERROR(read_npy(p), p, "truncated");
  EXPECT_IO_ERROR(read_npy_integers(p), p, "truncated");
  // A sparse file with a 2 GiB header length: present on disk, refused before reading.
  const std::string big = file("big.npy", std::string("\x93NUMPY\x02\x00\x00\x00\x00\x80", 12));
  fs::resize_file(big, (std::uintmax_t{1} << 31) + 64);
  EXPECT_IO_ERROR(read_npy(big), big, "header length");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
}

TEST_F(IoTest, NpyRejectsEmptyArrays) {
  for (const std::string shape : {"(0,)", "(0, 3)", "(3, 0)"}) {
    const std::string p = npy("e.npy", dict_for("<f8", shape), "");
    EXPECT_IO_ERROR(read_npy(p), p, "empty");
  }
}

TEST_F(IoTest, NpyRejectsNonFiniteValuesWithTheirPosition) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::string a = npy("a.npy", dict_for("<f8", "(2, 3)"), raw<double>({0, 1, 2, 3, 4, nan}));
  EXPECT_IO_ERROR(read_npy(a), a, "non-finite value (nan) at row 1, column 2");
  const std::string b = npy("b.npy", dict_for("<f4", "(2, 2)"), raw<float>({0, -std::numeric_limits<float>::infinity(), 1, 2}));
  EXPECT_IO_ERROR(read_npy(b), b, "non-finite value (-inf) at row 0, column 1");
  const std::string c = npy("c.npy", dict_for("<f8", "(3,)"), raw<double>({0, 1, inf}));
  EXPECT_IO_ERROR(read_npy(c), c, "non-finite value (inf) at row 2, column 0");
}

// ---- labels ------------------------------------------------------------------------------

TEST_F(IoTest, LabelsAreExact) {
  const std::vector<std::int64_t> v = {INT64_MIN, INT64_MAX, -1, 0};
  EXPECT_EQ(read_npy_integers(npy("i8.npy", dict_for("<i8", "(4,)"), raw(v))), v);
  const std::vector<double> f = {0, 1, 2, -3};
  write_npy(path("f.npy"), {f.data(), 4, 1});  // (n, 1) floats holding integers
  EXPECT_EQ(read_npy_integers(path("f.npy")), (std::vector<std::int64_t>{0, 1, 2, -3}));
}

TEST_F(IoTest, LabelsRejectNonIntegersAndWrongShapes) {
  const std::string half = npy("half.npy", dict_for("<f8", "(2,)"), raw<double>({1, 0.5}));
  EXPECT_IO_ERROR(read_npy_integers(half), half, "not an integer");
  const std::string huge = npy("huge.npy", dict_for("<f8", "(1,)"), raw<double>({1e17}));
  EXPECT_IO_ERROR(read_npy_integers(huge), huge, "not an integer");
  const std::string wide = npy("wide.npy", dict_for("<i4", "(3, 2)"), std::string(24, '\0'));
  EXPECT_IO_ERROR(read_npy_integers(wide), wide, "1-D");
  const std::string u8 = npy("u8.npy", dict_for("<u8", "(1,)"), raw<std::uint64_t>({std::uint64_t{1} << 63}));
  EXPECT_IO_ERROR(read_npy_integers(u8), u8, "too large");
  const std::string nan = npy("nan.npy", dict_for("<f4", "(1,)"), raw<float>({std::nanf("")}));
  EXPECT_IO_ERROR(read_npy_integers(nan), nan, "non-finite");
  const std::string empty = npy("empty.npy", dict_for("<i8", "(0,)"), "");
  EXPECT_IO_ERROR(read_npy_integers(empty), empty, "empty");
}

// ---- CSV -----------------------------------------------------------------------------

TEST_F(IoTest, CsvPlainAndSingleColumn) {
  const Matrix m = read_csv(file("a.csv", "1,2,3\n4,5,6\n"));
  EXPECT_EQ(m.rows, 2u);
  EXPECT_EQ(m.cols, 3u);
  EXPECT_EQ(m.values, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  const Matrix c = read_csv(file("c.csv", "0\n-1.25e-3\n2"));  // no final newline
  EXPECT_EQ(c.cols, 1u);
  EXPECT_EQ(c.values, (std::vector<double>{0, -1.25e-3, 2}));
}

TEST_F(IoTest, CsvHeaderCommentsCrLfSpacesAndBom) {
  const Matrix m = read_csv(file("h.csv", "\xEF\xBB\xBF# made by hand\nx, y\r\n 1.5 , -2e-3\r\n\r\n# more\n+3,4\r\n\n\n"));
  EXPECT_EQ(m.rows, 2u);
  EXPECT_EQ(m.cols, 2u);
  EXPECT_EQ(m.values, (std::vector<double>{1.5, -2e-3, 3, 4}));
  const Matrix pandas = read_csv(file("p.csv", ",a,b\n0,0.5,1\n1,2,3\n"));  // index column
  EXPECT_EQ(pandas.rows, 2u);
  EXPECT_EQ(pandas.cols, 3u);
}

TEST_F(IoTest, CsvRejectsBadContent) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"1,2\n3,4\n5,6,7\n", "line 3 has 3 values, expected 2"},
      {"a,b\n1,2\nabc,3\n", "line 3, column 1: 'abc' is not a number"},
      {"1,2\nx,3\n", "line 2, column 1: 'x' is not a number"},
      {"1,2\n3,4x\n", "line 2, column 2: '4x' is not a number"},
      {"1,2x\n3,4\n", "line 1, column 2: '2x' is not a number"},  // a number in it: not a header
      {"1,2\nnan,3\n", "non-finite value (nan) at line 2, column 1"},
      {"1,-inf\n", "non-finite value (-inf) at line 1, column 2"},
      {"1,1e400\n", "out of range"},
      {"1,2,3\n1,,3\n", "line 2, column 2: empty field"},
      {"1,2,3\n1,2,\n", "line 2, column 3: empty field"},
      {"a;b\n1;2\n", "(separate values with commas)"},
      {"1 2\n3 4\n", "(separate values with commas)"},
      {"", "no data rows"},
      {"a,b\n", "no data rows (only a header line)"},
      {"# nothing\n\n  \n", "no data rows"},
      {std::string("1,2\n\0\x01\x02", 7), "not a text file"},
  };
  for (const auto& [text, word] : cases) {
    const std::string p = file("bad.csv", text);
    EXPECT_IO_ERROR(read_csv(p), p, word);
  }
  EXPECT_IO_ERROR(read_csv(path("missing.csv")), path("missing.csv"), "cannot open");
}

// ---- read_matrix ---------------------------------------------------------------------

TEST_F(IoTest, ReadMatrixChoosesByContent) {
  const std::vector<double> v = {1, 2};
  write_npy(path("n.dat"), {v.data(), 1, 2});
  EXPECT_EQ(read_matrix(path("n.dat")).values, v);
  EXPECT_EQ(read_matrix(file("c.dat", "x\n1\n2\n")).values, v);
  EXPECT_EQ(read_matrix(file("c.CSV", "1,2\n")).values, v);
  EXPECT_EQ(read_matrix(file("c.txt", "1,2\n")).values, v);
  const std::string bin = file("b.bin", "\x01\x02\xff\x03");
  EXPECT_IO_ERROR(read_matrix(bin), bin, "not a .npy or .csv file");
  const std::string text_npy = file("t.npy", "1,2\n");
  EXPECT_IO_ERROR(read_matrix(text_npy), text_npy, "bad magic");
  const std::string nul_csv = file("n.csv", std::string("1\0", 2));
  EXPECT_IO_ERROR(read_matrix(nul_csv), nul_csv, "not a text file");
  const std::string empty = file("e.dat", "");
  EXPECT_IO_ERROR(read_matrix(empty), empty, "no data rows");
  EXPECT_IO_ERROR(read_matrix(dir_.string()), dir_.string(), "is a directory");
  EXPECT_IO_ERROR(read_matrix(path("none.csv")), path("none.csv"), "cannot open");
}

// ---- files written by numpy itself ------------------------------------------------------

constexpr const char* kNumpyScript = R"(import sys
import numpy as np
from numpy.lib import format as npf
d = sys.argv[1]
a = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
np.save(d + '/f8.npy', a)
np.save(d + '/f4.npy', a.astype(np.float32))
np.save(d + '/be.npy', a.astype('>f8'))
np.save(d + '/vec.npy', np.array([1.5, -2.0, 3.25]))
np.save(d + '/fortran.npy', np.asfortranarray(a))
np.save(d + '/labels.npy', np.array([0, 1, 2, -5], dtype=np.int64))
np.save(d + '/u1.npy', np.array([0, 255], dtype=np.uint8))
for v in (2, 3):
    with open(d + '/v%d.npy' % v, 'wb') as f:
        npf.write_array(f, a, version=(v, 0))
np.savetxt(d + '/a.csv', a, delimiter=',', header='x,y,z')
)";

TEST_F(IoTest, ReadsFilesWrittenByNumpy) {
  // Debian's python has numpy; the python3 first on PATH may be another interpreter.
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 not found";
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "numpy is not importable by /usr/bin/python3";
  }
  const std::string script = file("make.py", kNumpyScript);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + dir_.string()).c_str()), 0);
  std::vector<double> a(12);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<double>(i) / 7;
  for (const char* name : {"f8.npy", "be.npy", "v2.npy", "v3.npy", "a.csv"}) {
    const Matrix m = read_matrix(path(name));
    EXPECT_EQ(m.rows, 4u) << name;
    EXPECT_EQ(m.cols, 3u) << name;
    EXPECT_EQ(m.values, a) << name;
  }
  const Matrix f4 = read_npy(path("f4.npy"));
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(f4.values[i], static_cast<double>(static_cast<float>(a[i])));
  const Matrix vec = read_npy(path("vec.npy"));
  EXPECT_EQ(vec.cols, 1u);
  EXPECT_EQ(vec.values, (std::vector<double>{1.5, -2.0, 3.25}));
  EXPECT_IO_ERROR(read_npy(path("fortran.npy")), path("fortran.npy"), "Fortran order");
  EXPECT_EQ(read_npy_integers(path("labels.npy")), (std::vector<std::int64_t>{0, 1, 2, -5}));
  EXPECT_EQ(read_npy_integers(path("u1.npy")), (std::vector<std::int64_t>{0, 255}));
}

}  // namespace
}  // namespace infoflow::io
