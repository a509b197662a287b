/// \file
/// \brief Stop requests for `tinydiff train`: SIGINT and SIGTERM (and SIGUSR1 under MPI) ask the
/// trainer to finish its step, save a checkpoint and stop, instead of killing the process.
///
/// The trainer knows nothing of signals: `Trainer::run` polls the stop callback it is given, here
/// `stop_requested`.
///
/// Usage:
/// \code
///   install_stop_signal_handlers();
///   TrainResult r = trainer.run(stop_requested);   // r.interrupted after Ctrl-C
/// \endcode
#pragma once

namespace tinydiff::cli {

/// Makes SIGINT and SIGTERM request a stop (see stop_requested) instead of killing the process;
/// a second signal kills it as usual. With several MPI ranks (world_size() > 1) SIGUSR1 too:
/// `kill -USR1 <mpirun's pid>` stops every rank cleanly, as mpirun forwards SIGUSR1 to the ranks
/// (SIGINT and SIGTERM sent to mpirun reach them as SIGTERM, followed by SIGKILL about a second
/// later, which is enough only for short steps).
void install_stop_signal_handlers();
/// True after SIGINT/SIGTERM (with the handlers installed) or request_stop().
bool stop_requested();
/// Asks a running trainer (one polling stop_requested) to stop after its current step.
void request_stop();
/// Clears a stop request.
void clear_stop_request();

}  // namespace tinydiff::cli
