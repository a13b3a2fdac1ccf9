#include "stagecast/app/config.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace stagecast::app {

Status loadConfigFile(const std::string& path, ServerConfig& config) {
  std::ifstream in(path);
  if (!in) return Error("CONFIG_INVALID", "cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error("CONFIG_INVALID", path + ": not a JSON object");
  static const std::set<std::string> kKeys = {"http",
                                              "udp",
                                              "workers",
                                              "announcedAddresses",
                                              "iceServers",
                                              "logLevel",
                                              "publisherMaxBitrate",
                                              "maxBodyBytes",
                                              "consentTimeoutSeconds"};
  for (const auto& [k, v] : j.items()) {
    if (!kKeys.count(k)) return Error("CONFIG_INVALID", path + ": unknown key '" + k + "'");
  }
  try {
    if (j.contains("http")) config.http = j["http"].get<std::string>();
    if (j.contains("udp")) config.udp = j["udp"].get<std::string>();
    if (j.contains("workers")) config.workers = j["workers"].get<std::size_t>();
    if (j.contains("announcedAddresses"))
      config.announcedAddresses = j["announcedAddresses"].get<std::vector<std::string>>();
    if (j.contains("logLevel")) config.logLevel = j["logLevel"].get<std::string>();
    if (j.contains("publisherMaxBitrate")) config.publisherMaxBitrate = j["publisherMaxBitrate"].get<std::uint64_t>();
    if (j.contains("maxBodyBytes")) config.maxBodyBytes = j["maxBodyBytes"].get<std::size_t>();
    if (j.contains("consentTimeoutSeconds")) config.consentTimeoutSeconds = j["consentTimeoutSeconds"].get<int>();
    if (j.contains("iceServers")) {
      config.iceServers.clear();
      for (const auto& s : j["iceServers"]) {
        api::IceServerLink l;
        l.url = s.at("url").get<std::string>();
        if (s.contains("username")) l.username = s["username"].get<std::string>();
        if (s.contains("credential")) l.credential = s["credential"].get<std::string>();
        config.iceServers.push_back(l);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return Error("CONFIG_INVALID", path + ": " + e.what());
  }
  return {};
}

}  // namespace stagecast::app
