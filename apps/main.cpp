// amber: the command line.

#include <CLI/CLI.hpp>

#include "amber/runtime/node.hpp"
#include "demo.hpp"

int main(int argc, char** argv) {
  CLI::App app{"amber: actors with consistent checkpoints"};
  app.set_version_flag("--version", std::string("amber ") + amber::runtime_version());
  app.require_subcommand(1);

  std::string store_dir = "./amber-data";
  auto demo = app.add_subcommand("demo", "Run the bank demo: run, checkpoint, restore, run on");
  demo->add_option("--store", store_dir, "Store directory (created when missing)");

  CLI11_PARSE(app, argc, argv);
  if (demo->parsed())
    return amber::app::run_demo(store_dir);
  return 0;
}
