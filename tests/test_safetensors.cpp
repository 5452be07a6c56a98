// safetensors reading and writing, the network layout on top of it, and corrupt or
// hostile files, each rejected with an IoError naming the file and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "infoflow/network.hpp"
#include "io/safetensors.hpp"

namespace infoflow {
namespace {

namespace fs = std::filesystem;

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("infoflow_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A file from a JSON header and raw data, laid out as the format prescribes.
  std::string raw(const std::string& name, const std::string& header, const std::string& data) const {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes << header << data;
    return path;
  }
  void expect_rejected(const std::string& path, const std::string& needle) const {
    try {
      io::read_safetensors(path);
      ADD_FAILURE() << path << " was accepted";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
  fs::path dir_;
};

TEST_F(Safetensors, RoundTripF32AndF64) {
  io::Safetensors st;
  st.tensors["a"] = {"F64", {2, 3}, {1, -2, 3.25, 1e-300, 5, 6}};
  st.tensors["b"] = {"F64", {1}, {0.1}};
  st.metadata["note"] = "hello";
  for (const char* dtype : {"F64", "F32"}) {
    const std::string path = (dir_ / (std::string(dtype) + ".safetensors")).string();
    io::write_safetensors(path, st, dtype);
    const io::Safetensors back = io::read_safetensors(path);
    EXPECT_EQ(back.metadata.at("note"), "hello");
    EXPECT_EQ(back.tensors.at("a").shape, (std::vector<std::size_t>{2, 3}));
    EXPECT_EQ(back.tensors.at("a").dtype, dtype);
    for (std::size_t i = 0; i < 6; ++i) {
      const double v = st.tensors["a"].values[i];
      EXPECT_EQ(back.tensors.at("a").values[i], std::string(dtype) == "F64" ? v : static_cast<float>(v));
    }
  }
}

TEST_F(Safetensors, HalfPrecisionBitPatterns) {
  // F16: 1.0, -2.0, 2^-24 (smallest subnormal), 65504 (largest finite); BF16: 1.0, -0.5.
  const unsigned char f16[] = {0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0xFF, 0x7B};
  const unsigned char bf16[] = {0x80, 0x3F, 0x00, 0xBF};
  const std::string data(reinterpret_cast<const char*>(f16), 8);
  const std::string data2(reinterpret_cast<const char*>(bf16), 4);
  const auto st = io::read_safetensors(raw("h.safetensors",
      R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})",
      data + data2));
  const auto& h = st.tensors.at("h").values;
  EXPECT_EQ(h[0], 1.0);
  EXPECT_EQ(h[1], -2.0);
  EXPECT_EQ(h[2], std::ldexp(1.0, -24));
  EXPECT_EQ(h[3], 65504.0);
  EXPECT_EQ(st.tensors.at("b").values[0], 1.0);
  EXPECT_EQ(st.tensors.at("b").values[1], -0.5);
}

TEST_F(Safetensors, CorruptFilesAreRejected) {
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string eight(8, '\0');
  io::read_safetensors(raw("ok.safetensors", ok, eight));  // the baseline is valid
  expect_rejected(raw("short.safetensors", ok, eight.substr(0, 5)), "truncated");
  expect_rejected(raw("trailing.safetensors", ok, eight + "xx"), "trailing");
  expect_rejected(raw("json.safetensors", "{\"w\": [1,", eight), "JSON");
  expect_rejected(raw("array.safetensors", "[1, 2]", ""), "object");
  expect_rejected(raw("dtype.safetensors", R"({"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", eight), "I64");
  expect_rejected(raw("shape.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight), "data_offsets");
  expect_rejected(raw("neg.safetensors", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight), "shape");
  expect_rejected(raw("range.safetensors", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", eight), "hole");
  expect_rejected(raw("overlap.safetensors",
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), "overlap");
  expect_rejected(raw("missing.safetensors", R"({"w":{"dtype":"F32","shape":[2]}})", eight), "malformed");
  // Header lengths that are huge or point past the end of the file, and a file too short
  // for the length field itself. None may allocate.
  const std::string p = (dir_ / "huge.safetensors").string();
  std::ofstream(p, std::ios::binary) << std::string("\x00\x00\x00\x00\x00\x00\x00\x80", 8) << "{}";
  expect_rejected(p, "header length");
  const std::string q = (dir_ / "past.safetensors").string();
  std::ofstream(q, std::ios::binary) << std::string("\x00\x10\x00\x00\x00\x00\x00\x00", 8) << "{}";
  expect_rejected(q, "past end");
  const std::string r = (dir_ / "tiny.safetensors").string();
  std::ofstream(r, std::ios::binary) << "abc";
  expect_rejected(r, "truncated");
}

TEST_F(Safetensors, NetworkLayout) {
  Network net;
  net.layers = {{2, 3, {1, 2, 3, 4, 5, 6}, {0.5, -0.5, 0}, Activation::Tanh},
                {3, 1, {1, 1, 1}, {0}, Activation::Linear}};
  const std::string path = (dir_ / "net.safetensors").string();
  save_network(path, net, "F64");
  const Network back = load_network(path);
  ASSERT_EQ(back.layers.size(), 2u);
  EXPECT_EQ(back.layers[0].weight, net.layers[0].weight);
  EXPECT_EQ(back.layers[0].activation, Activation::Tanh);
  EXPECT_EQ(back.layers[1].activation, Activation::Linear);
  EXPECT_EQ(load_network(path, "relu").layers[1].activation, Activation::Relu);
  auto reject = [&](const std::string& name, const std::string& header, std::size_t bytes,
                    const std::string& needle, std::string_view act = {}) {
    const std::string p = raw(name, header, std::string(bytes, '\0'));
    try {
      load_network(p, act);
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string w0 = R"("layers.0.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]})";
  const std::string b0 = R"("layers.0.bias":{"dtype":"F32","shape":[3],"data_offsets":[24,36]})";
  reject("noact.safetensors", "{" + w0 + "," + b0 + "}", 36, "no activations");
  reject("nobias.safetensors", "{" + w0 + "}", 24, "layers.0.bias", "tanh");
  reject("badact.safetensors", "{" + w0 + "," + b0 + "}", 36, "swish", "swish");
  reject("count.safetensors", R"({"__metadata__":{"activations":"tanh,tanh"},)" + w0 + "," + b0 + "}", 36, "2 activations");
  reject("extra.safetensors", "{" + w0 + "," + b0 + R"(,"layer.1.weight":{"dtype":"F32","shape":[1],"data_offsets":[36,40]}})", 40, "layer.1.weight", "tanh");
  reject("chain.safetensors", "{" + w0 + "," + b0 +
         R"(,"layers.1.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[36,44]},"layers.1.bias":{"dtype":"F32","shape":[1],"data_offsets":[44,48]}})",
         48, "takes 2 inputs", "tanh");
}

}  // namespace
}  // namespace infoflow
