// Activations and the safetensors layout of a network: tensors layers.{i}.weight (out x in)
// and layers.{i}.bias (out), activations in the header's __metadata__ "activations".
#include <cmath>
#include <regex>
#include <set>
#include <sstream>

#include "infoflow/network.hpp"
#include "io/safetensors.hpp"

namespace infoflow {

Activation parse_activation(std::string_view name) {
  if (name == "tanh") return Activation::Tanh;
  if (name == "relu") return Activation::Relu;
  if (name == "leaky-relu" || name == "leaky_relu") return Activation::LeakyRelu;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "linear" || name == "identity") return Activation::Linear;
  throw InvalidArgument("unknown activation '" + std::string(name) +
                        "' (expected tanh, relu, leaky-relu, sigmoid or linear)");
}

std::string_view activation_name(Activation a) {
  switch (a) {
    case Activation::Tanh: return "tanh";
    case Activation::Relu: return "relu";
    case Activation::LeakyRelu: return "leaky-relu";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Linear: return "linear";
  }
  return "unknown";
}

double activate(Activation a, double x) {
  switch (a) {
    case Activation::Tanh: return std::tanh(x);
    case Activation::Relu: return x > 0 ? x : 0.0;
    case Activation::LeakyRelu: return x > 0 ? x : 0.01 * x;
    case Activation::Sigmoid: return 1 / (1 + std::exp(-x));
    case Activation::Linear: return x;
  }
  return x;
}

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw IoError(path + ": " + what);
}

std::vector<Activation> activations_of(const std::string& path, const io::Safetensors& st,
                                       std::string_view override_name, std::size_t layers) {
  if (!override_name.empty()) return std::vector<Activation>(layers, parse_activation(override_name));
  const auto it = st.metadata.find("activations");
  if (it == st.metadata.end()) {
    fail(path, "no activations: pass --activation NAME or store __metadata__ "
               "{\"activations\": \"tanh,tanh,linear\"}");
  }
  std::vector<Activation> out;
  // getline drops an empty last field, so "tanh,relu," would count two; append a comma
  // and every field, the last included, is seen and must name an activation.
  std::stringstream ss(it->second + ",");
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    try {
      out.push_back(parse_activation(b == std::string::npos ? "" : item.substr(b, e - b + 1)));
    } catch (const InvalidArgument& err) {
      fail(path, std::string("metadata activations: ") + err.what());
    }
  }
  if (out.size() != layers) {
    fail(path, "metadata lists " + std::to_string(out.size()) + " activations for " +
                   std::to_string(layers) + " layers");
  }
  return out;
}

const io::Tensor& tensor(const std::string& path, const io::Safetensors& st, const std::string& name) {
  const auto it = st.tensors.find(name);
  if (it == st.tensors.end()) fail(path, "missing tensor '" + name + "'");
  for (std::size_t i = 0; i < it->second.values.size(); ++i) {
    if (!std::isfinite(it->second.values[i])) {
      fail(path, "tensor '" + name + "' has a non-finite value at index " + std::to_string(i));
    }
  }
  return it->second;
}

}  // namespace

Network load_network(const std::string& path, std::string_view activation_override) {
  const io::Safetensors st = io::read_safetensors(path);
  // No leading zeros: "layers.01.weight" would map to layer 1 and never be looked up.
  const std::regex pattern(R"(layers\.(0|[1-9]\d*)\.(weight|bias))");
  // A set, not a max: a hostile index (layers.1000000000000.bias) must neither overflow
  // stoull nor size the activation list; a gap is then the first index not in the set.
  std::set<std::size_t> indices;
  for (const auto& [name, t] : st.tensors) {
    std::smatch m;
    if (!std::regex_match(name, m, pattern)) {
      fail(path, "unexpected tensor '" + name + "' (expected layers.{i}.weight and layers.{i}.bias)");
    }
    if (m[1].length() > 18) fail(path, "tensor '" + name + "': layer index out of range");
    indices.insert(std::stoull(m[1]));
  }
  std::size_t layers = 0;
  for (std::size_t index : indices) {
    if (index != layers) {
      fail(path, "missing tensor 'layers." + std::to_string(layers) + ".weight' (the file has layers up to layers." +
                     std::to_string(*indices.rbegin()) + ")");
    }
    ++layers;
  }
  if (layers == 0) fail(path, "no layers.{i}.weight tensors");
  const auto acts = activations_of(path, st, activation_override, layers);
  Network net;
  for (std::size_t i = 0; i < layers; ++i) {
    const std::string prefix = "layers." + std::to_string(i);
    const io::Tensor& w = tensor(path, st, prefix + ".weight");
    const io::Tensor& b = tensor(path, st, prefix + ".bias");
    if (w.shape.size() != 2) fail(path, prefix + ".weight must be 2-D (out x in)");
    if (w.shape[0] == 0 || w.shape[1] == 0) fail(path, prefix + ".weight has an empty dimension");
    if (b.shape.size() != 1 || b.shape[0] != w.shape[0]) {
      fail(path, prefix + ".bias must have shape (" + std::to_string(w.shape[0]) + ")");
    }
    if (i > 0 && w.shape[1] != net.layers.back().out) {
      fail(path, prefix + ".weight takes " + std::to_string(w.shape[1]) + " inputs but layer " +
                     std::to_string(i - 1) + " has " + std::to_string(net.layers.back().out) + " outputs");
    }
    net.layers.push_back({w.shape[1], w.shape[0], w.values, b.values, acts[i]});
  }
  return net;
}

void save_network(const std::string& path, const Network& net, const std::string& dtype) {
  io::Safetensors st;
  std::string acts;
  for (std::size_t i = 0; i < net.layers.size(); ++i) {
    const DenseLayer& l = net.layers[i];
    const std::string prefix = "layers." + std::to_string(i);
    st.tensors[prefix + ".weight"] = {dtype, {l.out, l.in}, l.weight};
    st.tensors[prefix + ".bias"] = {dtype, {l.out}, l.bias};
    acts += (i ? "," : "") + std::string(activation_name(l.activation));
  }
  st.metadata["activations"] = acts;
  io::write_safetensors(path, st, dtype);
}

}  // namespace infoflow
