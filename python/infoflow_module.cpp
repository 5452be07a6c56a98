// _infoflow: the compiled half of the infoflow Python package. A thin layer over the one
// C++ implementation (include/infoflow/*.hpp): it turns arrays into MatrixView / Span,
// releases the GIL, calls the library and returns plain dicts that the pure-Python
// package (python/infoflow/) turns into documented result objects.
//
// Why nanobind: nb::ndarray imports NumPy arrays (buffer protocol / DLPack) and PyTorch
// tensors (DLPack) without a copy, so a float64 C-contiguous array becomes a MatrixView
// over the caller's own buffer. Any other dtype or layout (float32, strided) is converted
// once, by the array's own framework (numpy astype / torch .to().contiguous()), while the
// argument is loaded; the converted copy lives until the call returns.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "infoflow/infoflow.hpp"
#include "infoflow/information_plane.hpp"
#include "infoflow/network.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using infoflow::InvalidArgument;
// Read-only, C-contiguous, host memory: the only layout the library's views describe.
using Array = nb::ndarray<double, nb::ro, nb::c_contig, nb::device::cpu>;
using Labels = nb::ndarray<std::int64_t, nb::ro, nb::c_contig, nb::device::cpu>;

// Any real dtype, any strides, GPU memory (DLPack import, e.g. a torch CUDA tensor): read
// in place by log_density_on_device.
using DeviceArray = nb::ndarray<nb::ro, nb::device::cuda>;

template <class A>
std::string shape_of(const A& a) {
  std::string s = "(";
  for (std::size_t i = 0; i < a.ndim(); ++i) {
    s += (i ? ", " : "") + std::to_string(a.shape(i));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// 2-D: rows x d; 1-D: n values in d = 1. The view points into the caller's buffer.
infoflow::MatrixView<double> matrix_view(const Array& a, const char* name) {
  if (a.ndim() == 2) return {a.data(), a.shape(0), a.shape(1)};
  if (a.ndim() == 1) return {a.data(), a.shape(0), 1};
  throw InvalidArgument(std::string(name) + " must be a 2-D array (rows x d) or 1-D (d = 1), got " +
                        std::to_string(a.ndim()) + "-D array of shape " + shape_of(a));
}

// 2-D rows x d with contiguous columns, or 1-D (d = 1); float32 or float64. The Python
// layer converts other dtypes and strided columns on the device first.
infoflow::DeviceMatrixView device_view(const DeviceArray& a, const char* name) {
  infoflow::DeviceMatrixView v;
  v.data = a.data();
  if (a.dtype() == nb::dtype<float>()) {
    v.dtype = infoflow::DType::Float32;
  } else if (a.dtype() == nb::dtype<double>()) {
    v.dtype = infoflow::DType::Float64;
  } else {
    throw InvalidArgument(std::string(name) + " must be float32 or float64 on the GPU");
  }
  if (a.ndim() == 1) {
    v.rows = a.shape(0), v.cols = 1;
  } else if (a.ndim() == 2) {
    v.rows = a.shape(0), v.cols = a.shape(1);
    if (v.cols > 1 && a.stride(1) != 1) {
      throw InvalidArgument(std::string(name) + " must have contiguous columns (call .contiguous())");
    }
  } else {
    throw InvalidArgument(std::string(name) + " must be a 2-D array (rows x d) or 1-D (d = 1), got " +
                          std::to_string(a.ndim()) + "-D array of shape " + shape_of(a));
  }
  if (a.stride(0) < 0) throw InvalidArgument(std::string(name) + " has a negative row stride");
  v.row_stride = v.rows > 1 ? static_cast<std::size_t>(a.stride(0)) : v.cols;
  return v;
}

infoflow::Span<const double> vector_view(const std::optional<Array>& a, const char* name) {
  if (!a) return {};
  if (a->ndim() != 1) {
    throw InvalidArgument(std::string(name) + " must be a 1-D array, got shape " + shape_of(*a));
  }
  return {a->data(), a->shape(0)};
}

infoflow::ComputeOptions compute_options(const std::string& backend, int threads,
                                         double tolerance) {
  infoflow::ComputeOptions c;
  c.backend = infoflow::parse_backend(backend);
  c.threads = threads;
  c.tolerance = tolerance;
  return c;
}

// JSON-like: NaN (undefined, e.g. the standard error of a single draw) becomes None.
nb::object number_or_none(double v) {
  return std::isnan(v) ? nb::none() : nb::object(nb::float_(v));
}

nb::dict entropy_dict(const infoflow::EntropyResult& r, bool bounds) {
  nb::dict d;
  d["entropy"] = r.entropy_nats;
  d["stderr"] = r.stderr_nats;
  d["kl_upper"] = bounds ? number_or_none(r.kl_upper_nats) : nb::none();
  d["bhattacharyya_lower"] = bounds ? number_or_none(r.bhattacharyya_lower_nats) : nb::none();
  d["n"] = r.n, d["d"] = r.d, d["samples"] = r.samples, d["sigma"] = r.sigma;
  d["backend"] = std::string(infoflow::backend_name(r.backend));
  d["seconds"] = r.seconds;
  return d;
}

// mixture_entropy for host or device centres: the options, the call without the GIL, the dict.
template <class Run>
nb::dict run_entropy(double sigma, std::size_t samples_per_center, std::uint64_t seed, bool bounds,
                     bool control_variate, const infoflow::ComputeOptions& compute, const Run& run) {
  infoflow::EntropyOptions o;
  o.sigma = sigma, o.samples_per_center = samples_per_center, o.seed = seed;
  o.bounds = bounds, o.control_variate = control_variate, o.compute = compute;
  infoflow::EntropyResult r;
  {
    nb::gil_scoped_release release;
    r = run(o);
  }
  return entropy_dict(r, bounds);
}

// Which of the optional estimates a call asked for: the rest are None.
struct Asked {
  bool labels = false, bias_correction = false, bounds = false;
};

nb::object value_if(bool asked, double v) { return asked ? nb::object(nb::float_(v)) : nb::none(); }

nb::dict layer_dict(const infoflow::LayerInformation& l, Asked a) {
  const bool with_labels = a.labels;
  nb::dict d;
  d["layer"] = l.layer, d["width"] = l.width;
  d["h_T"] = l.h_T_nats, d["h_T_stderr"] = l.h_T_stderr_nats;
  d["h_T_given_X"] = l.h_T_given_X_nats, d["h_T_given_X_stderr"] = l.h_T_given_X_stderr_nats;
  d["I_XT"] = l.I_XT_nats, d["I_XT_stderr"] = l.I_XT_stderr_nats;
  d["I_YT"] = with_labels ? nb::object(nb::float_(l.I_YT_nats)) : nb::none();
  d["I_YT_stderr"] = with_labels ? nb::object(nb::float_(l.I_YT_stderr_nats)) : nb::none();
  d["mc_queries"] = l.mc_queries;
  d["target_stderr_met"] = l.target_stderr_met;
  d["numerical_error"] = l.numerical_error_nats;
  const bool bx = a.bias_correction, by = a.bias_correction && a.labels;
  d["I_XT_bias"] = value_if(bx, l.I_XT_bias_nats), d["I_XT_bias_stderr"] = value_if(bx, l.I_XT_bias_stderr_nats);
  d["I_XT_debiased"] = value_if(bx, l.I_XT_debiased_nats);
  d["I_XT_debiased_stderr"] = value_if(bx, l.I_XT_debiased_stderr_nats);
  d["I_YT_bias"] = value_if(by, l.I_YT_bias_nats), d["I_YT_bias_stderr"] = value_if(by, l.I_YT_bias_stderr_nats);
  d["I_YT_debiased"] = value_if(by, l.I_YT_debiased_nats);
  d["I_YT_debiased_stderr"] = value_if(by, l.I_YT_debiased_stderr_nats);
  const bool ux = a.bounds, uy = a.bounds && a.labels;
  d["I_XT_lower"] = value_if(ux, l.I_XT_lower_nats), d["I_XT_upper"] = value_if(ux, l.I_XT_upper_nats);
  d["I_YT_lower"] = value_if(uy, l.I_YT_lower_nats), d["I_YT_upper"] = value_if(uy, l.I_YT_upper_nats);
  return d;
}

nb::dict information_dict(const infoflow::MutualInformationResult& r, Asked a) {
  nb::list layers;
  for (const infoflow::LayerInformation& l : r.layers) layers.append(layer_dict(l, a));
  nb::dict d;
  d["layers"] = layers;
  d["n_inputs"] = r.n_inputs, d["samples_per_input"] = r.samples_per_input, d["beta"] = r.beta;
  d["backend"] = std::string(infoflow::backend_name(r.backend));
  d["seconds"] = r.seconds;
  d["resample_inputs"] = std::string(infoflow::input_resample_name(r.resample_inputs));
  d["resampled_rows"] = r.resampled_rows;
  d["input_entropy"] = r.input_entropy_nats;
  return d;
}

// A network given as (weight out x in, bias out, activation) per layer, checked the way
// load_network checks a file: shapes chain, nothing empty, every value finite.
infoflow::Network network_from_layers(
    const std::vector<std::tuple<Array, Array, std::string>>& layers) {
  if (layers.empty()) throw InvalidArgument("model has no layers");
  infoflow::Network net;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& [w, b, act] = layers[i];
    const std::string name = "model[" + std::to_string(i) + "]";
    if (w.ndim() != 2 || w.shape(0) == 0 || w.shape(1) == 0) {
      throw InvalidArgument(name + " weight must be a non-empty 2-D array (out x in), got shape " +
                            shape_of(w));
    }
    const std::size_t out = w.shape(0), in = w.shape(1);
    if (b.ndim() != 1 || b.shape(0) != out) {
      throw InvalidArgument(name + " bias must have shape (" + std::to_string(out) + ",), got " +
                            shape_of(b));
    }
    if (i > 0 && in != net.layers.back().out) {
      throw InvalidArgument(name + " weight takes " + std::to_string(in) + " inputs but model[" +
                            std::to_string(i - 1) + "] has " +
                            std::to_string(net.layers.back().out) +
                            " outputs (weights are out x in, as in torch.nn.Linear)");
    }
    infoflow::DenseLayer l{in, out, std::vector<double>(w.data(), w.data() + out * in),
                           std::vector<double>(b.data(), b.data() + out),
                           infoflow::parse_activation(act)};
    for (std::size_t k = 0; k < l.weight.size(); ++k) {
      if (!std::isfinite(l.weight[k])) {
        throw InvalidArgument(name + " weight has a non-finite value at row " +
                              std::to_string(k / in) + ", column " + std::to_string(k % in));
      }
    }
    for (std::size_t k = 0; k < out; ++k) {
      if (!std::isfinite(l.bias[k])) {
        throw InvalidArgument(name + " bias has a non-finite value at index " + std::to_string(k));
      }
    }
    net.layers.push_back(std::move(l));
  }
  return net;
}

bool is_out_of_memory(const char* what) {
  return std::strstr(what, "of memory is available") || std::strstr(what, "out of memory");
}

void translate_errors(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const infoflow::InvalidArgument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const infoflow::IoError& e) {
    PyErr_SetString(PyExc_OSError, e.what());
  } catch (const infoflow::ResourceError& e) {
    PyErr_SetString(is_out_of_memory(e.what()) ? PyExc_MemoryError : PyExc_RuntimeError, e.what());
  } catch (const infoflow::Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
}

// The estimator's and the baselines' options of measure_checkpoint / measure_layer.
infoflow::CheckpointOptions checkpoint_options(double beta, std::size_t samples_per_input, std::size_t mc_queries,
                                               std::size_t mc_samples_per_center, double target_stderr,
                                               bool noisy_last_layer, const std::optional<Array>& input_weights,
                                               std::uint64_t seed, const std::string& backend, int threads,
                                               bool control_variate, bool estimate, double bin_size,
                                               std::size_t num_bins, double cluster_radius,
                                               const std::string& resample_inputs, bool clip_at_zero,
                                               bool bias_correction, bool bounds) {
  infoflow::CheckpointOptions c;
  infoflow::MutualInformationOptions& o = c.estimation;
  o.control_variate = control_variate;
  o.beta = beta, o.samples_per_input = samples_per_input, o.mc_queries = mc_queries;
  o.mc_samples_per_center = mc_samples_per_center, o.target_stderr = target_stderr;
  o.noisy_last_layer = noisy_last_layer, o.seed = seed;
  const auto iw = vector_view(input_weights, "input_weights");
  o.input_weights.assign(iw.begin(), iw.end());
  o.compute = compute_options(backend, threads, 1e-6);
  o.resample_inputs = infoflow::parse_input_resample(resample_inputs);
  o.clip_at_zero = clip_at_zero, o.bias_correction = bias_correction, o.bounds = bounds;
  c.estimate = estimate, c.bin_size = bin_size, c.num_bins = num_bins, c.cluster_radius = cluster_radius;
  return c;
}

nb::dict measures_dict(const infoflow::LayerMeasures& m, Asked a) {
  const bool with_labels = a.labels;
  nb::dict d = layer_dict(m.information, a);
  d["H_bin"] = m.H_bin_nats;
  d["I_XT_bin"] = m.I_XT_bin_nats;
  d["I_YT_bin"] = with_labels ? nb::object(nb::float_(m.I_YT_bin_nats)) : nb::none();
  d["H_cluster"] = m.H_cluster_nats;
  d["clusters"] = m.clusters;
  d["class_distance_ratio"] = with_labels ? nb::object(nb::float_(m.class_distance_ratio)) : nb::none();
  return d;
}

std::optional<infoflow::Span<const std::int64_t>> labels_span(const std::optional<Labels>& labels) {
  if (!labels) return infoflow::Span<const std::int64_t>{};
  if (labels->ndim() != 1) {
    throw InvalidArgument("labels must be a 1-D array of integers, got " + std::to_string(labels->ndim()) + "-D");
  }
  return infoflow::Span<const std::int64_t>{labels->data(), labels->shape(0)};
}

void bind_network(nb::module_& m) {
  nb::class_<infoflow::Network>(m, "Network", "A noisy feed-forward network (opaque; see infoflow.mutual_information).")
      .def_prop_ro("layers", [](const infoflow::Network& net) {
        std::vector<std::tuple<std::size_t, std::size_t, std::string>> out;
        for (const auto& l : net.layers) {
          out.emplace_back(l.in, l.out, std::string(infoflow::activation_name(l.activation)));
        }
        return out;
      }, "[(in, out, activation)] per layer")
      .def("__repr__", [](const infoflow::Network& net) {
        std::string sizes = std::to_string(net.input_dim()), acts;
        for (const auto& l : net.layers) {
          sizes += "-" + std::to_string(l.out);
          acts += (acts.empty() ? "" : ",") + std::string(infoflow::activation_name(l.activation));
        }
        return "Network(" + sizes + ", activations=" + acts + ")";
      });
  m.def("load_network", [](const std::string& path, const std::string& activation) {
    nb::gil_scoped_release release;
    return infoflow::load_network(path, activation);
  }, "path"_a, "activation"_a = "");
  m.def("network_from_layers", &network_from_layers, "layers"_a);
}

}  // namespace

void bind_cli(nb::module_& m);  // python/cli_entry.cpp: `python -m infoflow`

NB_MODULE(_infoflow, m) {
  m.doc() = "Compiled core of the infoflow package; use the functions of `infoflow` instead.";
  nb::register_exception_translator(&translate_errors);

  m.def("version", [] { return std::string(infoflow::version()); });
  m.def("cuda_available", &infoflow::cuda_available);
  m.def("cuda_unavailable_reason", &infoflow::cuda_unavailable_reason);
  m.def("gaussian_entropy", [](std::size_t d, double sigma) {
    if (!(std::isfinite(sigma) && sigma > 0)) {
      throw InvalidArgument("sigma must be a finite number > 0, got " + std::to_string(sigma));
    }
    return infoflow::gaussian_entropy(d, sigma);
  }, "d"_a, "sigma"_a);
  // The address the library would read: equal to arr.ctypes.data exactly when no copy is made.
  m.def("_data_pointer", [](Array a) { return reinterpret_cast<std::uintptr_t>(a.data()); }, "array"_a);

  m.def("mixture_entropy",
        [](Array centers, double sigma, std::size_t samples_per_center, std::uint64_t seed,
           const std::string& backend, bool bounds, std::optional<Array> weights, int threads,
           double tolerance, bool control_variate) {
          const auto c = matrix_view(centers, "centers");
          const auto w = vector_view(weights, "weights");
          return run_entropy(sigma, samples_per_center, seed, bounds, control_variate,
                             compute_options(backend, threads, tolerance),
                             [&](const infoflow::EntropyOptions& o) { return infoflow::mixture_entropy(c, w, o); });
        },
        "centers"_a, "sigma"_a, "samples_per_center"_a, "seed"_a, "backend"_a, "bounds"_a,
        "weights"_a.none(), "threads"_a, "tolerance"_a, "control_variate"_a = true);

  m.def("mixture_entropy_device",
        [](DeviceArray centers, double sigma, std::size_t samples_per_center, std::uint64_t seed,
           const std::string& backend, bool bounds, std::optional<Array> weights, bool control_variate) {
          const auto c = device_view(centers, "centers");
          const auto w = vector_view(weights, "weights");
          return run_entropy(
              sigma, samples_per_center, seed, bounds, control_variate, compute_options(backend, 0, 0.0),
              [&](const infoflow::EntropyOptions& o) { return infoflow::mixture_entropy_on_device(c, w, o); });
        },
        "centers"_a, "sigma"_a, "samples_per_center"_a, "seed"_a, "backend"_a, "bounds"_a,
        "weights"_a.none(), "control_variate"_a = true);

  m.def("log_density",
        [](Array queries, Array centers, double sigma, std::optional<Array> weights,
           const std::string& backend, int threads, double tolerance) {
          const auto opt = compute_options(backend, threads, tolerance);
          const auto q = matrix_view(queries, "queries"), c = matrix_view(centers, "centers");
          const auto w = vector_view(weights, "weights");
          std::unique_ptr<double[]> out(new double[q.rows > 0 ? q.rows : 1]);
          {
            nb::gil_scoped_release release;
            infoflow::log_density(q, c, w, sigma, {out.get(), q.rows}, opt);
          }
          const std::size_t m = q.rows;
          nb::capsule owner(out.get(), [](void* p) noexcept { delete[] static_cast<double*>(p); });
          return nb::ndarray<nb::numpy, double, nb::ndim<1>>(out.release(), {m}, owner);
        },
        "queries"_a, "centers"_a, "sigma"_a, "weights"_a.none(), "backend"_a, "threads"_a,
        "tolerance"_a);

  // Returns (d queries or None, d centers or None, d weights or None, d sigma): the arrays
  // are allocated only for the gradients asked for.
  m.def("log_density_backward",
        [](Array queries, Array centers, double sigma, std::optional<Array> weights, Array log_density,
           Array grad, bool want_queries, bool want_centers, bool want_weights, int threads,
           const std::string& backend) {
          const auto opt = compute_options(backend, threads, 0.0);
          const auto q = matrix_view(queries, "queries"), c = matrix_view(centers, "centers");
          const auto w = vector_view(weights, "weights");
          const auto ld = vector_view(log_density, "log_density");
          const auto g = vector_view(grad, "grad");
          auto alloc = [](bool want, std::size_t size) {
            return std::unique_ptr<double[]>(want ? new double[size > 0 ? size : 1] : nullptr);
          };
          auto gq = alloc(want_queries, q.rows * q.cols), gc = alloc(want_centers, c.rows * c.cols),
               gw = alloc(want_weights, c.rows);
          infoflow::LogDensityGradients out;
          if (gq) out.queries = {gq.get(), q.rows * q.cols};
          if (gc) out.centers = {gc.get(), c.rows * c.cols};
          if (gw) out.weights = {gw.get(), c.rows};
          double grad_sigma;
          {
            nb::gil_scoped_release release;
            grad_sigma = infoflow::log_density_backward(q, c, w, sigma, ld, g, out, opt);
          }
          auto wrap = [](std::unique_ptr<double[]>& p, std::size_t rows, std::size_t cols) -> nb::object {
            if (!p) return nb::none();
            nb::capsule owner(p.get(), [](void* x) noexcept { delete[] static_cast<double*>(x); });
            return nb::cast(nb::ndarray<nb::numpy, double, nb::ndim<2>>(p.release(), {rows, cols}, owner));
          };
          nb::object w_out = nb::none();
          if (gw) {
            const std::size_t n = c.rows;
            nb::capsule owner(gw.get(), [](void* x) noexcept { delete[] static_cast<double*>(x); });
            w_out = nb::cast(nb::ndarray<nb::numpy, double, nb::ndim<1>>(gw.release(), {n}, owner));
          }
          return nb::make_tuple(wrap(gq, q.rows, q.cols), wrap(gc, c.rows, c.cols), w_out, grad_sigma);
        },
        "queries"_a, "centers"_a, "sigma"_a, "weights"_a.none(), "log_density"_a, "grad"_a,
        "want_queries"_a, "want_centers"_a, "want_weights"_a, "threads"_a, "backend"_a = "auto");

  m.def("monte_carlo_normals",
        [](std::uint64_t seed, std::uint64_t row0, std::size_t rows, std::size_t d) {
          if (d == 0 || rows > (std::size_t{1} << 40) / d) {
            throw InvalidArgument("monte_carlo_normals: " + std::to_string(rows) + " rows of d = " +
                                  std::to_string(d) + " is not a size one estimate draws");
          }
          std::unique_ptr<double[]> out(new double[rows * d > 0 ? rows * d : 1]);
          {
            nb::gil_scoped_release release;
            infoflow::monte_carlo_normals(seed, row0, rows, d, {out.get(), rows * d});
          }
          nb::capsule owner(out.get(), [](void* p) noexcept { delete[] static_cast<double*>(p); });
          return nb::ndarray<nb::numpy, double, nb::ndim<2>>(out.release(), {rows, d}, owner);
        },
        "seed"_a, "row0"_a, "rows"_a, "d"_a);

  m.def("log_density_device",
        [](DeviceArray queries, DeviceArray centers, double sigma, std::optional<Array> weights) {
          const auto q = device_view(queries, "queries"), c = device_view(centers, "centers");
          if (q.cols != c.cols) {
            throw InvalidArgument("queries have d = " + std::to_string(q.cols) + " but centers have d = " +
                                  std::to_string(c.cols));
          }
          const auto w = vector_view(weights, "weights");
          std::unique_ptr<double[]> out(new double[q.rows > 0 ? q.rows : 1]);
          {
            nb::gil_scoped_release release;
            infoflow::log_density_on_device(q, c, w, sigma, {out.get(), q.rows});
          }
          const std::size_t m = q.rows;
          nb::capsule owner(out.get(), [](void* p) noexcept { delete[] static_cast<double*>(p); });
          return nb::ndarray<nb::numpy, double, nb::ndim<1>>(out.release(), {m}, owner);
        },
        "queries"_a, "centers"_a, "sigma"_a, "weights"_a.none());

  m.def("sample_information",
        [](Array samples, std::size_t samples_per_input, std::optional<Labels> labels, double beta,
           std::size_t mc_queries, std::size_t mc_samples_per_center, double target_stderr,
           std::optional<Array> input_weights, std::uint64_t seed, const std::string& backend, int threads,
           bool control_variate, bool clip_at_zero, bool bias_correction, bool bounds) {
          infoflow::MutualInformationOptions o;
          o.control_variate = control_variate;
          o.clip_at_zero = clip_at_zero, o.bias_correction = bias_correction, o.bounds = bounds;
          o.beta = beta, o.samples_per_input = samples_per_input, o.mc_queries = mc_queries;
          o.mc_samples_per_center = mc_samples_per_center, o.target_stderr = target_stderr, o.seed = seed;
          const auto iw = vector_view(input_weights, "input_weights");
          o.input_weights.assign(iw.begin(), iw.end());
          o.compute = compute_options(backend, threads, 1e-6);
          const auto s = matrix_view(samples, "samples");
          infoflow::Span<const std::int64_t> y;
          if (labels) y = {labels->data(), labels->shape(0)};
          infoflow::LayerInformation r;
          {
            nb::gil_scoped_release release;
            r = infoflow::sample_information(s, samples_per_input, y, o);
          }
          nb::dict d = layer_dict(r, {labels.has_value(), bias_correction, bounds});
          d["backend"] = std::string(infoflow::backend_name(infoflow::resolve_backend(o.compute.backend)));
          return d;
        },
        "samples"_a, "samples_per_input"_a, "labels"_a.none(), "beta"_a, "mc_queries"_a,
        "mc_samples_per_center"_a, "target_stderr"_a, "input_weights"_a.none(), "seed"_a, "backend"_a,
        "threads"_a, "control_variate"_a = true, "clip_at_zero"_a = false, "bias_correction"_a = false,
        "bounds"_a = false);

  bind_network(m);
  bind_cli(m);
  m.def("mutual_information",
        [](const infoflow::Network& net, Array inputs, std::optional<Labels> labels, double beta,
           std::size_t samples_per_input, std::size_t mc_queries,
           std::size_t mc_samples_per_center, double target_stderr,
           std::vector<std::size_t> layers, bool noisy_last_layer,
           std::optional<Array> input_weights, std::uint64_t seed, const std::string& backend,
           int threads, bool control_variate, const std::string& resample_inputs, bool clip_at_zero,
           bool bias_correction, bool bounds) {
          infoflow::MutualInformationOptions o;
          o.control_variate = control_variate;
          o.resample_inputs = infoflow::parse_input_resample(resample_inputs);
          o.clip_at_zero = clip_at_zero, o.bias_correction = bias_correction, o.bounds = bounds;
          o.beta = beta, o.samples_per_input = samples_per_input, o.mc_queries = mc_queries;
          o.mc_samples_per_center = mc_samples_per_center, o.target_stderr = target_stderr;
          o.noisy_last_layer = noisy_last_layer, o.layers = std::move(layers), o.seed = seed;
          const auto iw = vector_view(input_weights, "input_weights");
          o.input_weights.assign(iw.begin(), iw.end());
          o.compute = compute_options(backend, threads, 1e-6);
          const auto x = matrix_view(inputs, "inputs");
          infoflow::Span<const std::int64_t> y;
          if (labels) {
            if (labels->ndim() != 1) {
              throw InvalidArgument("labels must be a 1-D array of integers, got " +
                                    std::to_string(labels->ndim()) + "-D");
            }
            y = {labels->data(), labels->shape(0)};
          }
          infoflow::MutualInformationResult r;
          {
            nb::gil_scoped_release release;
            r = infoflow::mutual_information(net, x, y, o);
          }
          return information_dict(r, {labels.has_value(), bias_correction, bounds});
        },
        "model"_a, "inputs"_a, "labels"_a.none(), "beta"_a, "samples_per_input"_a,
        "mc_queries"_a, "mc_samples_per_center"_a, "target_stderr"_a, "layers"_a,
        "noisy_last_layer"_a, "input_weights"_a.none(), "seed"_a, "backend"_a, "threads"_a,
        "control_variate"_a = true, "resample_inputs"_a = "none", "clip_at_zero"_a = false,
        "bias_correction"_a = false, "bounds"_a = false);
  m.def("measure_checkpoint",
        [](const infoflow::Network& net, Array inputs, std::optional<Labels> labels, double beta,
           std::size_t samples_per_input, std::size_t mc_queries, std::size_t mc_samples_per_center,
           double target_stderr, bool noisy_last_layer, std::optional<Array> input_weights, std::uint64_t seed,
           const std::string& backend, int threads, bool control_variate, bool estimate, double bin_size,
           std::size_t num_bins, double cluster_radius, const std::string& resample_inputs, bool clip_at_zero,
           bool bias_correction, bool bounds) {
          const infoflow::CheckpointOptions opt =
              checkpoint_options(beta, samples_per_input, mc_queries, mc_samples_per_center, target_stderr,
                                 noisy_last_layer, input_weights, seed, backend, threads, control_variate, estimate,
                                 bin_size, num_bins, cluster_radius, resample_inputs, clip_at_zero, bias_correction,
                                 bounds);
          const auto x = matrix_view(inputs, "inputs");
          const auto y = *labels_span(labels);
          infoflow::CheckpointMeasures r;
          {
            nb::gil_scoped_release release;
            r = infoflow::measure_checkpoint(net, x, y, opt);
          }
          nb::list layers, reps;
          const Asked asked{labels.has_value(), opt.estimation.bias_correction, opt.estimation.bounds};
          for (const auto& l : r.layers) layers.append(measures_dict(l, asked));
          for (std::size_t l = 0; l < r.representations.size(); ++l) {
            const std::size_t width = net.layers[l].out;
            auto* data = new std::vector<double>(std::move(r.representations[l]));
            nb::capsule owner(data, [](void* p) noexcept { delete static_cast<std::vector<double>*>(p); });
            reps.append(nb::ndarray<nb::numpy, double, nb::ndim<2>>(data->data(), {x.rows, width}, owner));
          }
          nb::dict d;
          d["layers"] = layers, d["representations"] = reps;
          d["backend"] = std::string(infoflow::backend_name(r.backend));
          d["seconds"] = r.seconds;
          d["resampled_rows"] = r.resampled_rows;
          d["input_entropy"] = r.input_entropy_nats;
          return d;
        },
        "model"_a, "inputs"_a, "labels"_a.none(), "beta"_a, "samples_per_input"_a, "mc_queries"_a,
        "mc_samples_per_center"_a, "target_stderr"_a, "noisy_last_layer"_a, "input_weights"_a.none(), "seed"_a,
        "backend"_a, "threads"_a, "control_variate"_a, "estimate"_a, "bin_size"_a, "num_bins"_a,
        "cluster_radius"_a, "resample_inputs"_a = "none", "clip_at_zero"_a = false, "bias_correction"_a = false,
        "bounds"_a = false);

  m.def("measure_layer",
        [](Array samples, std::size_t samples_per_input, Array clean, std::optional<Labels> labels, double beta,
           std::size_t mc_queries, std::size_t mc_samples_per_center, double target_stderr,
           std::optional<Array> input_weights, std::uint64_t seed, const std::string& backend, int threads,
           bool control_variate, bool estimate, double bin_size, std::size_t num_bins, double cluster_radius,
           bool clip_at_zero, bool bias_correction, bool bounds) {
          const infoflow::CheckpointOptions opt =
              checkpoint_options(beta, samples_per_input, mc_queries, mc_samples_per_center, target_stderr, false,
                                 input_weights, seed, backend, threads, control_variate, estimate, bin_size,
                                 num_bins, cluster_radius, "none", clip_at_zero, bias_correction, bounds);
          const auto s = matrix_view(samples, "samples");
          const auto c = matrix_view(clean, "clean");
          const auto y = *labels_span(labels);
          infoflow::LayerMeasures r;
          {
            nb::gil_scoped_release release;
            r = infoflow::measure_layer(s, samples_per_input, c, y, opt);
          }
          nb::dict d = measures_dict(r, {labels.has_value(), opt.estimation.bias_correction, opt.estimation.bounds});
          d["backend"] = std::string(infoflow::backend_name(infoflow::resolve_backend(opt.estimation.compute.backend)));
          return d;
        },
        "samples"_a, "samples_per_input"_a, "clean"_a, "labels"_a.none(), "beta"_a, "mc_queries"_a,
        "mc_samples_per_center"_a, "target_stderr"_a, "input_weights"_a.none(), "seed"_a, "backend"_a, "threads"_a,
        "control_variate"_a, "estimate"_a, "bin_size"_a, "num_bins"_a, "cluster_radius"_a,
        "clip_at_zero"_a = false, "bias_correction"_a = false, "bounds"_a = false);
}
