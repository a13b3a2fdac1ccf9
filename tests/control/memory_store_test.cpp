#include "stagecast/control/memory_store.hpp"

#include "store_conformance.hpp"

namespace stagecast::control::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, StoreConformance,
                         ::testing::Values(StoreFactory{"Memory", [] { return std::make_unique<MemoryStore>(); }}),
                         factoryName);

TEST(MemoryStore, HistoryIsBoundedAndReplayReportsTheGap) {
  MemoryStore store(3);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store.appendEvent([](std::uint64_t seq) { return std::to_string(seq); }));
  auto r = store.eventsAfter(2);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->complete);  // 3..7 were dropped
  ASSERT_EQ(r->events.size(), 3U);
  EXPECT_EQ(r->events[0].seq, 8U);
  auto ok = store.eventsAfter(7);
  EXPECT_TRUE(ok->complete);
  EXPECT_EQ(ok->events.size(), 3U);
}

}  // namespace
}  // namespace stagecast::control::testing
