// stagecast: a self-hosted real-time streaming server (WHIP/WHEP SFU).
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "stagecast/app/config.hpp"
#include "stagecast/app/server.hpp"
#include "stagecast/common/log.hpp"

int main(int argc, char** argv) {
  using namespace stagecast;
  CLI::App cli{"Stagecast: WHIP/WHEP real-time streaming server"};
  cli.require_subcommand(1);
  app::ServerConfig config;
  std::string configFile;
  std::string http;
  std::string udp;
  std::size_t workers = 0;
  std::vector<std::string> announce;
  std::string logLevel;
  std::vector<std::string> apiKeys;
  std::string dataDir;
  std::string store;
  bool noMediaAuth = false;

  auto* serve = cli.add_subcommand("serve", "Run the server");
  serve->add_option("--config", configFile, "JSON config file (flags override it)")->check(CLI::ExistingFile);
  serve->add_option("--http", http, "HTTP listen address HOST:PORT (default 127.0.0.1:8080)");
  serve->add_option("--udp", udp, "Media UDP address HOST:PORT, one port for all peers (default 0.0.0.0:8443)");
  serve->add_option("--workers", workers, "Media worker threads (default: one per core)");
  serve->add_option("--announce", announce, "Public IP to put in ICE candidates (repeatable), for NAT");
  serve->add_option("--log-level", logLevel, "trace|debug|info|warn|error (default info)");
  serve->add_option("--api-key", apiKeys, "API key accepted on /api/* and /ws (repeatable; default: generated)");
  serve->add_option("--data-dir", dataDir, "Directory for the signing key and generated API key (default stagecast-data)");
  serve->add_option("--store", store, "memory|redis (default memory)");
  serve->add_flag("--no-media-auth", noMediaAuth, "Let WHIP/WHEP run without participant tokens (testing only)");
  cli.add_subcommand("version", "Print the version")->callback([] { std::cout << "stagecast 0.1.0\n"; });

  CLI11_PARSE(cli, argc, argv);
  if (!serve->parsed()) return 0;

  if (!configFile.empty()) {
    if (auto s = app::loadConfigFile(configFile, config); !s) {
      std::cerr << "error: " << s.error().message << "\n";
      return 2;
    }
  }
  if (!http.empty()) config.http = http;
  if (!udp.empty()) config.udp = udp;
  if (workers != 0) config.workers = workers;
  if (!announce.empty()) config.announcedAddresses = announce;
  if (!logLevel.empty()) config.logLevel = logLevel;
  if (!apiKeys.empty()) config.apiKeys = apiKeys;
  if (!dataDir.empty()) config.dataDir = dataDir;
  if (!store.empty()) config.store = store;
  if (noMediaAuth) config.mediaAuth = false;
  log::init(config.logLevel);

  // The signals are taken by the server's own wait; block them first so no thread gets them by default.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto server = app::Server::create(config);
  if (!server) {
    spdlog::error("{}: {}", server.error().code, server.error().message);
    return 1;
  }
  if (auto s = (*server)->start(); !s) {
    spdlog::error("{}: {}", s.error().code, s.error().message);
    return 1;
  }
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  (*server)->runUntilSignal();
  return 0;
}
