// The `fileport` binary: the server and the tools around it.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"fileport: an OpenAI-compatible Files and Uploads server, client and tools"};
  app.set_version_flag("--version", std::string("fileport 0.1.0"));
  app.require_subcommand(1);
  fileport::cli::AddServeCommand(app);
  fileport::cli::AddKeysCommands(app);
  fileport::cli::AddFilesCommands(app);
  fileport::cli::AddUploadsCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // commands report their result this way
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : fileport::cli::kExitUsage;
  }
  return 0;
}
