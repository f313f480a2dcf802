// The pure parts of distributed deadlock detection: the backend registry, the wait-for graph
// between sessions' transactions, and cycle and victim selection.
#include "frontend/deadlock.h"

#include <gtest/gtest.h>

namespace mosaic::frontend {
namespace {

using backend::BackendRegistry;
using Holders = std::map<backend::BackendKey, BackendRegistry::Holder>;

WaitEdge Edge(int32_t waiter, int64_t waiter_since, int32_t holder, int64_t holder_since, int node, int32_t pid) {
  return {.waiter = {waiter, waiter_since}, .holder = {holder, holder_since}, .node = node, .waiter_pid = pid};
}

TEST(BackendRegistry, SnapshotHasHeldBackendsOnly) {
  BackendRegistry registry;
  auto a = registry.Register(1, 100);
  auto b = registry.Register(2, 200);
  auto c = registry.Register(1, 300);
  a->Set(7, 1000);
  b->Set(8, 2000);
  auto snap = registry.Snapshot();
  ASSERT_EQ(snap.size(), 2u);  // c is in the pool, held by nobody
  EXPECT_EQ(snap[(backend::BackendKey{1, 100})].session, 7);
  EXPECT_EQ(snap[(backend::BackendKey{2, 200})].since, 2000);
  b->Clear();
  c.reset();  // the connection closed
  a.reset();
  snap = registry.Snapshot();
  EXPECT_TRUE(snap.empty());
  // A new connection that got a closed one's pid replaces it.
  auto d = registry.Register(1, 100);
  d->Set(9, 3000);
  EXPECT_EQ(registry.Snapshot()[(backend::BackendKey{1, 100})].session, 9);
}

TEST(Deadlock, GraphMapsBackendsToSessionsAndDropsOthers) {
  Holders holders = {
      {{1, 100}, {7, 10}}, {{2, 101}, {7, 10}},  // session 7: backends on nodes 1 and 2
      {{1, 200}, {8, 20}}, {{2, 201}, {8, 20}},  // session 8
  };
  std::vector<LockWait> waits = {
      {.node = 2, .pid = 101, .blockers = {201}},       // 7 waits on node 2 for 8
      {.node = 1, .pid = 200, .blockers = {100, 555}},  // 8 waits on node 1 for 7 and a stranger
      {.node = 1, .pid = 555, .blockers = {200}},       // a stranger (not ours) waits for 8
      {.node = 1, .pid = 100, .blockers = {0}},         // waits on a prepared transaction
      {.node = 3, .pid = 101, .blockers = {201}},       // pids of node 2 mean nothing on node 3
  };
  auto edges = BuildWaitGraph(waits, holders);
  ASSERT_EQ(edges.size(), 2u);
  EXPECT_EQ(edges[0], Edge(7, 10, 8, 20, 2, 101));
  EXPECT_EQ(edges[1], Edge(8, 20, 7, 10, 1, 200));
}

TEST(Deadlock, GraphLeavesOutASessionWaitingOnItself) {
  Holders holders = {{{1, 100}, {7, 10}}, {{1, 101}, {7, 10}}};
  EXPECT_TRUE(BuildWaitGraph({{.node = 1, .pid = 100, .blockers = {101}}}, holders).empty());
}

TEST(Deadlock, TwoTransactionsOverTwoNodes) {
  // 7 began first; 8 is the youngest: it is the victim, on the node where it waits.
  auto victims = FindDeadlockVictims({Edge(7, 10, 8, 20, 2, 101), Edge(8, 20, 7, 10, 1, 200)});
  ASSERT_EQ(victims.size(), 1u);
  EXPECT_EQ(victims[0].txn, (TxnId{8, 20}));
  EXPECT_EQ(victims[0].node, 1);
  EXPECT_EQ(victims[0].backend_pid, 200);
  EXPECT_EQ(victims[0].cycle.size(), 2u);
}

TEST(Deadlock, TieOnStartPicksTheLargerSession) {
  auto victims = FindDeadlockVictims({Edge(7, 10, 8, 10, 2, 101), Edge(8, 10, 7, 10, 1, 200)});
  ASSERT_EQ(victims.size(), 1u);
  EXPECT_EQ(victims[0].txn.session, 8);
}

TEST(Deadlock, CycleOnOneNodeIsThatNodesBusiness) {
  // PostgreSQL finds it itself (deadlock_timeout): not ours to cancel.
  EXPECT_TRUE(FindDeadlockVictims({Edge(7, 10, 8, 20, 1, 100), Edge(8, 20, 7, 10, 1, 200)}).empty());
  // Two cycles, each on one node, sharing a member: still no distributed one.
  EXPECT_TRUE(FindDeadlockVictims({Edge(7, 10, 8, 20, 1, 100), Edge(8, 20, 7, 10, 1, 200),
                                   Edge(7, 10, 9, 30, 2, 101), Edge(9, 30, 7, 10, 2, 300)})
                  .empty());
}

TEST(Deadlock, ChainWithoutCycleIsAnOrdinaryWait) {
  EXPECT_TRUE(FindDeadlockVictims({Edge(7, 10, 8, 20, 1, 100), Edge(8, 20, 9, 30, 2, 200)}).empty());
}

TEST(Deadlock, ThreeWayCycleOverThreeNodes) {
  // 7 -> 8 on node 2, 8 -> 9 on node 3, 9 -> 7 on node 1 (the statement over 3 nodes).
  auto victims = FindDeadlockVictims(
      {Edge(7, 30, 8, 10, 2, 701), Edge(8, 10, 9, 20, 3, 801), Edge(9, 20, 7, 30, 1, 901)});
  ASSERT_EQ(victims.size(), 1u);
  EXPECT_EQ(victims[0].txn.session, 7);  // began last
  EXPECT_EQ(victims[0].node, 2);
  EXPECT_EQ(victims[0].backend_pid, 701);
  EXPECT_EQ(victims[0].cycle.size(), 3u);
}

TEST(Deadlock, CycleThroughALocalWaiter) {
  // 8 holds only node 2, where 7 waits for it while it waits for 9; 9 waits for 7 on node 1.
  // Node 2 sees a chain, node 1 one wait: the cycle needs both.
  auto victims = FindDeadlockVictims(
      {Edge(7, 10, 8, 30, 2, 701), Edge(8, 30, 9, 20, 2, 801), Edge(9, 20, 7, 10, 1, 901)});
  ASSERT_EQ(victims.size(), 1u);
  EXPECT_EQ(victims[0].txn.session, 8);
}

TEST(Deadlock, OneVictimPerCycle) {
  // Two separate cycles: one victim each.
  auto victims = FindDeadlockVictims({Edge(1, 10, 2, 20, 1, 11), Edge(2, 20, 1, 10, 2, 21),
                                      Edge(3, 40, 4, 30, 1, 31), Edge(4, 30, 3, 40, 2, 41)});
  ASSERT_EQ(victims.size(), 2u);
  EXPECT_EQ(victims[0].txn.session, 2);
  EXPECT_EQ(victims[1].txn.session, 3);
  // Two cycles sharing their youngest member: cancelling it breaks both.
  victims = FindDeadlockVictims({Edge(1, 10, 2, 50, 1, 11), Edge(2, 50, 1, 10, 2, 21),
                                 Edge(3, 20, 2, 50, 1, 31), Edge(2, 50, 3, 20, 3, 22)});
  ASSERT_EQ(victims.size(), 1u);
  EXPECT_EQ(victims[0].txn.session, 2);
}

TEST(Deadlock, CommonEdgesKeepWaitsSeenTwice) {
  std::vector<WaitEdge> first = {Edge(7, 10, 8, 20, 2, 101), Edge(8, 20, 7, 10, 1, 200)};
  // The second reading: 8's transaction ended and session 8 began another one.
  std::vector<WaitEdge> second = {Edge(7, 10, 8, 20, 2, 101), Edge(8, 25, 7, 10, 1, 200)};
  auto common = CommonEdges(first, second);
  ASSERT_EQ(common.size(), 1u);
  EXPECT_TRUE(FindDeadlockVictims(common).empty());
  EXPECT_EQ(FindDeadlockVictims(CommonEdges(first, first)).size(), 1u);
}

}  // namespace
}  // namespace mosaic::frontend
