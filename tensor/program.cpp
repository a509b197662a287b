// One-line errors and exit codes for every program (tensor/program.h).
#include "tensor/program.h"

#include <cstdio>
#include <exception>
#include <new>

#include "tensor/error.h"
#include "tensor/process_env.h"

namespace tinydiff {

namespace {

// `text` on one line: line breaks become "; ", leading and trailing blanks of each line go.
std::string one_line(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    const size_t first = line.find_first_not_of(" \t");
    const size_t last = line.find_last_not_of(" \t\r");
    if (first != std::string::npos) {
      if (!out.empty()) out += (out.back() == ':' ? " " : "; ");
      out += line.substr(first, last - first + 1);
    }
    start = end + 1;
  }
  return out;
}

}  // namespace

void print_program_error(const std::string& program, const std::string& problem, const std::string& hint) {
  std::string line = program + ": error: " + one_line(problem);
  if (!hint.empty()) line += "; hint: " + one_line(hint);
  std::fputs((line + "\n").c_str(), stderr);
}

void print_program_warning(const std::string& program, const std::string& text) {
  std::fputs((program + ": warning: " + one_line(text) + "\n").c_str(), stderr);
}

int run_program(const std::string& program, int argc, char** argv, const std::function<int()>& body) {
  (void)argc;
  prepare_process(argv);
  try {
    return body();
  } catch (const ProgramError& e) {
    print_program_error(program, e.what(), e.hint);
    return e.code;
  } catch (const Error& e) {
    print_program_error(program, e.what(), "run '" + program + " --help' for the options");
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    print_program_error(program, "out of memory", "use a smaller batch or fewer images");
    return kExitUnexpected;
  } catch (const std::exception& e) {
    print_program_error(program, e.what(), "this is unexpected; please report it with the command line");
    return kExitUnexpected;
  } catch (...) {  // not a std::exception: still one line, never `terminate called`
    print_program_error(program, "an exception that is not a std::exception",
                        "this is unexpected; please report it with the command line");
    return kExitUnexpected;
  }
}

}  // namespace tinydiff
