// safetensors reader/writer. The validation follows the reference implementation
// (huggingface/safetensors): header at most 100 MB and inside the file, every tensor's
// byte range consistent with its dtype and shape, ranges sorted without overlap or
// holes and covering the buffer exactly. Sizes are checked before allocating.
#include "io/safetensors.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "io/matrix_file.hpp"
#include "host_memory.hpp"

namespace infoflow::io {
namespace {

constexpr std::uint64_t kMaxHeader = 100'000'000;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw IoError(path + ": " + what);
}

std::size_t dtype_size(const std::string& dtype) {
  if (dtype == "F64") return 8;
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

double half_to_double(std::uint16_t h) {
  const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
  return sign * std::ldexp(mant + 1024, exp - 25);
}

double decode(const unsigned char* p, const std::string& dtype) {
  if (dtype == "F64") { double v; std::memcpy(&v, p, 8); return v; }
  if (dtype == "F32") { float v; std::memcpy(&v, p, 4); return v; }
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  if (dtype == "F16") return half_to_double(h);
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;  // BF16: top half of a float
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

struct Entry {
  std::string name;
  Tensor tensor;
  std::uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& j) {
  Entry e;
  e.name = name;
  if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets") ||
      !j["dtype"].is_string() || !j["shape"].is_array() || !j["data_offsets"].is_array() ||
      j["data_offsets"].size() != 2) {
    fail(path, "tensor '" + name + "': malformed header entry");
  }
  e.tensor.dtype = j["dtype"];
  const std::size_t size = dtype_size(e.tensor.dtype);
  if (size == 0) {
    fail(path, "tensor '" + name + "' has dtype " + e.tensor.dtype + "; expected F32, F64, F16 or BF16");
  }
  std::uint64_t count = 1;
  for (const auto& s : j["shape"]) {
    if (!s.is_number_unsigned()) fail(path, "tensor '" + name + "': shape entries must be integers >= 0");
    const std::uint64_t v = s;
    if (v != 0 && count > std::numeric_limits<std::uint64_t>::max() / 8 / v) {
      fail(path, "tensor '" + name + "': shape too large");
    }
    count *= v;
    e.tensor.shape.push_back(v);
  }
  for (const auto& o : j["data_offsets"]) {
    if (!o.is_number_unsigned()) fail(path, "tensor '" + name + "': data_offsets must be integers >= 0");
  }
  e.begin = j["data_offsets"][0], e.end = j["data_offsets"][1];
  if (e.begin > e.end || e.end - e.begin != count * size) {
    fail(path, "tensor '" + name + "': data_offsets [" + std::to_string(e.begin) + ", " +
                   std::to_string(e.end) + ") do not hold " + std::to_string(count) + " " + e.tensor.dtype);
  }
  return e;
}

// nlohmann keeps the last of duplicate keys silently and stops at a NUL byte as if the
// input ended there; the format forbids both (a NUL-cut header could hide a second
// payload: the polyglot files the no-holes rule exists to prevent).
nlohmann::json parse_header(const std::string& path, const std::string& header) {
  const std::size_t nul = header.find('\0');
  if (nul != std::string::npos) fail(path, "header is not valid JSON (NUL byte at offset " + std::to_string(nul) + ")");
  std::vector<std::set<std::string>> keys;  // one set per open object
  const nlohmann::json::parser_callback_t unique_keys = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& v) {
    if (ev == nlohmann::json::parse_event_t::object_start) keys.emplace_back();
    if (ev == nlohmann::json::parse_event_t::object_end) keys.pop_back();
    if (ev == nlohmann::json::parse_event_t::key && !keys.back().insert(v.get<std::string>()).second) {
      fail(path, "header has duplicate key '" + v.get<std::string>() + "'");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(header, unique_keys);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
}

}  // namespace

Safetensors read_safetensors(const std::string& path) {
  if (internal::is_stream(path)) {
    // The header length first: zeros (/dev/zero) or junk fail before the rest is copied.
    const internal::StreamCopy copy(path, [&](const std::string& head) {
      if (head.size() < 8) fail(path, "truncated: shorter than 8 bytes");
      std::uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(head[static_cast<std::size_t>(i)]);
      if (n == 0 || n > kMaxHeader) fail(path, "header length " + std::to_string(n) + " out of range");
    });
    return copy.read([](const std::string& p) { return read_safetensors(p); });
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory, not a safetensors file");
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) fail(path, "cannot open file (" + std::string(std::strerror(errno)) + ")");
  const std::streamoff end = f.tellg();
  if (end < 0) fail(path, "cannot determine the file size (not a regular file?)");
  const auto file_size = static_cast<std::uint64_t>(end);
  f.seekg(0);
  unsigned char lb[8];
  if (file_size < 8 || !f.read(reinterpret_cast<char*>(lb), 8)) fail(path, "truncated: shorter than 8 bytes");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | lb[i];
  if (n == 0 || n > kMaxHeader) fail(path, "header length " + std::to_string(n) + " out of range");
  if (n > file_size - 8) fail(path, "truncated: header length " + std::to_string(n) + " past end of file");
  std::string header(n, '\0');
  f.read(header.data(), static_cast<std::streamsize>(n));
  if (!f) fail(path, "read error in header");
  const nlohmann::json j = parse_header(path, header);
  if (!j.is_object()) fail(path, "header is not a JSON object");
  Safetensors st;
  std::vector<Entry> entries;
  for (const auto& [name, value] : j.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(path, "__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) fail(path, "__metadata__ value of '" + k + "' is not a string");
        st.metadata[k] = v;
      }
      continue;
    }
    entries.push_back(parse_entry(path, name, value));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const std::uint64_t buffer = file_size - 8 - n;
  std::uint64_t covered = 0;
  for (const Entry& e : entries) {
    if (e.begin != covered) {
      fail(path, "tensor '" + e.name + "' starts at " + std::to_string(e.begin) + ", expected " +
                     std::to_string(covered) + (e.begin < covered ? " (overlap)" : " (hole in buffer)"));
    }
    covered = e.end;
  }
  if (covered != buffer) {
    fail(path, covered > buffer ? "truncated: tensors need " + std::to_string(covered) +
                                      " bytes, buffer has " + std::to_string(buffer)
                                : std::to_string(buffer - covered) + " trailing bytes not covered by any tensor");
  }
  // The raw bytes plus float64 values: 4x the bytes for 2-byte dtypes, the worst case.
  detail::require_memory(static_cast<double>(buffer) * 5, path);
  std::vector<unsigned char> bytes(buffer);
  if (buffer > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(buffer))) {
    fail(path, "read error");
  }
  for (Entry& e : entries) {
    const std::size_t size = dtype_size(e.tensor.dtype), count = (e.end - e.begin) / size;
    e.tensor.values.resize(count);
    for (std::size_t i = 0; i < count; ++i) e.tensor.values[i] = decode(bytes.data() + e.begin + i * size, e.tensor.dtype);
    st.tensors[e.name] = std::move(e.tensor);
  }
  return st;
}

void write_safetensors(const std::string& path, const Safetensors& st, const std::string& dtype) {
  if (dtype != "F32" && dtype != "F64") throw InvalidArgument("write_safetensors: dtype must be F32 or F64");
  const std::size_t size = dtype_size(dtype);
  nlohmann::json header = nlohmann::json::object();
  if (!st.metadata.empty()) header["__metadata__"] = st.metadata;
  std::string data;
  for (const auto& [name, t] : st.tensors) {
    const std::size_t begin = data.size();
    for (double v : t.values) {
      if (size == 8) {
        data.append(reinterpret_cast<const char*>(&v), 8);
      } else {
        const float f = static_cast<float>(v);
        data.append(reinterpret_cast<const char*>(&f), 4);
      }
    }
    header[name] = {{"dtype", dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';
  std::ofstream f(path, std::ios::binary);
  unsigned char lb[8];
  for (int i = 0; i < 8; ++i) lb[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
  f.write(reinterpret_cast<const char*>(lb), 8);
  f << text << data;
  if (!f) throw IoError(path + ": write failed");
}

}  // namespace infoflow::io
