/// \file
/// \brief Start-up of every program that does heavy maths: idle OpenMP threads sleep rather
/// than spin, and OpenBLAS runs the best kernels this CPU supports.
///
/// Both are read by the libraries when they are loaded, before `main` runs (libgomp reads
/// `OMP_WAIT_POLICY`, OpenBLAS `OPENBLAS_CORETYPE`), so when either has to change,
/// `prepare_process` sets the variables and re-executes the program once (same arguments, same
/// process id; nothing has been done yet).
#pragma once

namespace tinydiff {

/// Call first in main (`run_program` in tensor/program.h does): may re-execute the program.
void prepare_process(char** argv);

}  // namespace tinydiff
