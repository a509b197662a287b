/// \file
/// \brief `state_dict` and `load_state_dict`: a module's parameters as named tensors, and back.
///
/// A state dict maps every parameter's dotted path (see Module::named_parameters) to its
/// tensor, in the module's order, exactly as PyTorch's `model.state_dict()` names them, so
/// a file written by `save_safetensors(path, state_dict(model))` lines up name for name with
/// `torch_model.state_dict()` (and tools/safetensors_np.py reads it).
///
/// `load_state_dict` checks everything before it copies anything: with `strict`, every
/// parameter must be present (*missing*) and every tensor must belong to a parameter
/// (*unexpected*); in any mode the shapes must match (*size mismatch*, as in PyTorch).
/// One Error lists *every* problem, e.g.
///
///     load_state_dict: 3 problems loading 4 tensors into 4 parameters:
///       missing: 'conv.bias' (8,)
///       unexpected: 'conv.bais' (8,)
///       size mismatch for 'proj.weight': the module has (16, 8), the state dict has (8, 16)
///
/// Values are copied into the existing parameters (so optimizers holding them stay valid),
/// converting the dtype when it differs (float64 goldens into a float32 model, say).
///
/// Usage:
/// \code
///   save_safetensors("model.safetensors", state_dict(model));
///   load_state_dict(model, load_safetensors("model.safetensors").tensors);
/// \endcode
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "nn/module.h"
#include "nn/safetensors.h"

namespace tinydiff {

/// Parameters with their dotted paths (what Module::named_parameters returns).
using NamedParameters = std::vector<std::pair<std::string, Variable>>;

/// What a non-strict load skipped (PyTorch's `_IncompatibleKeys`).
struct LoadStateDictResult {
  /// Parameters the state dict did not hold (left unchanged).
  std::vector<std::string> missing_keys;
  /// Tensors that belong to no parameter (ignored).
  std::vector<std::string> unexpected_keys;
};

/// The module's parameter values by name, in module order. The tensors share storage with
/// the parameters (like PyTorch's state_dict); clone them to keep a snapshot.
NamedTensors state_dict(const Module& module);

/// Every problem that loading `tensors` into `params` would meet, one line each
/// ("missing: ...", "unexpected: ...", "size mismatch for ...", "duplicate: ..."); empty when
/// the load would succeed. Missing and unexpected names count only when `strict`.
std::vector<std::string> state_dict_problems(const NamedParameters& params, const NamedTensors& tensors,
                                             bool strict = true);

/// Copies `tensors` into the parameters of the same name, after checking names and shapes
/// (see state_dict_problems); throws one Error listing every problem and then changes nothing.
LoadStateDictResult load_state_dict(const NamedParameters& params, const NamedTensors& tensors, bool strict = true);

/// load_state_dict into `module.named_parameters()`.
LoadStateDictResult load_state_dict(Module& module, const NamedTensors& tensors, bool strict = true);

/// The tensors whose names start with `prefix`, with the prefix removed ("model.conv.weight"
/// with prefix "model." becomes "conv.weight"). Shares storage.
NamedTensors strip_prefix(const NamedTensors& tensors, const std::string& prefix);

/// The tensors with `prefix` prepended to every name. Shares storage.
NamedTensors add_prefix(const NamedTensors& tensors, const std::string& prefix);

}  // namespace tinydiff
