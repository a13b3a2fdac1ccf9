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
                                              "consentTimeoutSeconds",
                                              "httpThreads",
                                              "dataDir",
                                              "jwtKeyFile",
                                              "apiKeys",
                                              "mediaNodeSecret",
                                              "mediaAuth",
                                              "store",
                                              "redis",
                                              "stageCapacity",
                                              "stageGraceSeconds",
                                              "minStages",
                                              "viewerTimeoutSeconds",
                                              "heartbeatIntervalSeconds",
                                              "channels",
                                              "publicBaseUrl",
                                              "notificationHistory",
                                              "nodeId",
                                              "nodeUrl",
                                              "actionLog",
                                              "probeTimeoutMs",
                                              "previewTtlSeconds",
                                              "cameraKeyFile"};
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
    if (j.contains("httpThreads")) config.httpThreads = j["httpThreads"].get<std::size_t>();
    if (j.contains("dataDir")) config.dataDir = j["dataDir"].get<std::string>();
    if (j.contains("jwtKeyFile")) config.jwtKeyFile = j["jwtKeyFile"].get<std::string>();
    if (j.contains("apiKeys")) config.apiKeys = j["apiKeys"].get<std::vector<std::string>>();
    if (j.contains("mediaNodeSecret")) config.mediaNodeSecret = j["mediaNodeSecret"].get<std::string>();
    if (j.contains("mediaAuth")) config.mediaAuth = j["mediaAuth"].get<bool>();
    if (j.contains("store")) config.store = j["store"].get<std::string>();
    if (j.contains("redis")) {
      const auto& r = j["redis"];
      for (const auto& [k, v] : r.items()) {
        if (k != "host" && k != "port" && k != "password" && k != "keyPrefix")
          return Error("CONFIG_INVALID", path + ": unknown key 'redis." + k + "'");
      }
      if (r.contains("host")) config.redisHost = r["host"].get<std::string>();
      if (r.contains("port")) config.redisPort = r["port"].get<std::uint16_t>();
      if (r.contains("password")) config.redisPassword = r["password"].get<std::string>();
      if (r.contains("keyPrefix")) config.redisKeyPrefix = r["keyPrefix"].get<std::string>();
    }
    if (j.contains("stageCapacity")) config.stageCapacity = j["stageCapacity"].get<std::size_t>();
    if (j.contains("stageGraceSeconds")) config.stageGraceSeconds = j["stageGraceSeconds"].get<int>();
    if (j.contains("minStages")) config.minStages = j["minStages"].get<std::size_t>();
    if (j.contains("viewerTimeoutSeconds")) config.viewerTimeoutSeconds = j["viewerTimeoutSeconds"].get<int>();
    if (j.contains("heartbeatIntervalSeconds"))
      config.heartbeatIntervalSeconds = j["heartbeatIntervalSeconds"].get<int>();
    if (j.contains("channels")) config.channels = j["channels"].get<std::vector<std::string>>();
    if (j.contains("publicBaseUrl")) config.publicBaseUrl = j["publicBaseUrl"].get<std::string>();
    if (j.contains("notificationHistory")) config.notificationHistory = j["notificationHistory"].get<std::size_t>();
    if (j.contains("nodeId")) config.nodeId = j["nodeId"].get<std::string>();
    if (j.contains("nodeUrl")) config.nodeUrl = j["nodeUrl"].get<std::string>();
    if (j.contains("actionLog")) {
      const auto& a = j["actionLog"];
      for (const auto& [k, v] : a.items()) {
        if (k != "backend" && k != "connection")
          return Error("CONFIG_INVALID", path + ": unknown key 'actionLog." + k + "'");
      }
      if (a.contains("backend")) config.actionLogBackend = a["backend"].get<std::string>();
      if (a.contains("connection")) config.actionLogConnection = a["connection"].get<std::string>();
    }
    if (j.contains("probeTimeoutMs")) config.probeTimeoutMs = j["probeTimeoutMs"].get<int>();
    if (j.contains("previewTtlSeconds")) config.previewTtlSeconds = j["previewTtlSeconds"].get<int>();
    if (j.contains("cameraKeyFile")) config.cameraKeyFile = j["cameraKeyFile"].get<std::string>();
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
