#include "infoflow/infoflow.hpp"

namespace infoflow {
std::string_view version() { return INFOFLOW_VERSION; }
}  // namespace infoflow
