#pragma once
// The behaviour every Store must have. Each implementation instantiates the suite with a factory that returns a
// fresh, empty store (see memory_store_test.cpp, redis_store_test.cpp).
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "stagecast/control/store.hpp"

namespace stagecast::control::testing {

struct StoreFactory {
  std::string name;
  // Returns nullptr (and the suite skips) when the backing service is not available.
  std::function<std::unique_ptr<Store>()> make;
};

inline std::string factoryName(const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; }

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store = GetParam().make();
    if (!store) GTEST_SKIP() << GetParam().name << " store is not available";
  }
  // A second handle on the same data (another node), when the implementation has one; else the same store.
  std::unique_ptr<Store> store;
};

}  // namespace stagecast::control::testing
