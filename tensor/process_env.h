/// \file
/// \brief Start-up of every program that does heavy maths: idle OpenMP threads sleep rather
/// than spin, and OpenBLAS runs the best kernels this CPU supports.
///
/// Both are read by the libraries when they are loaded, before `main` runs (libgomp reads
/// `OMP_WAIT_POLICY`, OpenBLAS `OPENBLAS_CORETYPE`), so when either has to change,
/// `prepare_process` sets the variables and re-executes the program once (same arguments, same
/// process id; nothing has been done yet).
///
/// **Why idle OpenMP threads must sleep** (`OMP_WAIT_POLICY=passive` unless the user chose).
/// GCC's OpenMP runtime (libgomp, which OpenBLAS's OpenMP build shares) lets a thread that waits
/// at the end of a parallel region spin for a while before it sleeps. On an idle machine that
/// saves a wake-up of a few microseconds; on a machine doing anything else (a browser, a
/// compiler, another training run) the spinning thread keeps its core from the very thread it
/// waits for, and the tiny config's training step, made of thousands of short parallel loops,
/// became 3-4x slower. Measured side by side on this project's 2-core machine while two
/// compilers ran (`tinydiff-bench --case train_b64 --threads 2`, median of 5 steps): 4,934 ms
/// with the default policy, 1,259-1,332 ms with `OMP_WAIT_POLICY=passive`. Even on the idle
/// machine spinning did not pay (same command, OPENBLAS_CORETYPE unset, two runs each): 634 and
/// 679 ms active, 330 and 330 ms passive (more in docs/performance.md).
/// Set `OMP_WAIT_POLICY=active` (or anything) to keep your own choice.
#pragma once

namespace tinydiff {

/// Call first in main (`run_program` in tensor/program.h does): may re-execute the program.
void prepare_process(char** argv);

}  // namespace tinydiff
