#include "frontend/two_phase.h"

#include <fmt/format.h>

#include <charconv>
#include <csignal>
#include <unistd.h>

#include "common/log.h"
#include "protocol/codec.h"

namespace mosaic::frontend {

// ---------------------------------------------------------------------------------------------
// InFlightTransactions

void InFlightTransactions::Add(const std::string& gid) {
  std::lock_guard lock(mu_);
  gids_.insert(gid);
}

void InFlightTransactions::Remove(const std::string& gid) {
  std::lock_guard lock(mu_);
  gids_.erase(gid);
}

bool InFlightTransactions::Contains(const std::string& gid) const {
  std::lock_guard lock(mu_);
  return gids_.count(gid) > 0;
}

// ---------------------------------------------------------------------------------------------
// FaultInjector

namespace {

constexpr std::pair<std::string_view, FaultPoint> kFaultPoints[] = {
    {"prepare-some", FaultPoint::kPrepareSome},
    {"prepare-all", FaultPoint::kPrepareAll},
    {"decision", FaultPoint::kDecision},
    {"commit-some", FaultPoint::kCommitSome},
};

std::string_view FaultName(FaultPoint point) {
  for (const auto& [name, p] : kFaultPoints) {
    if (p == point) return name;
  }
  return "none";
}

}  // namespace

Result<FaultInjector> FaultInjector::Parse(std::string_view spec) {
  FaultInjector out;
  if (spec.empty()) return out;
  auto bad = [&] {
    return Status::Error(sqlstate::kConfigFileError,
                         fmt::format("--test-fault must be POINT:N with POINT one of prepare-some, "
                                     "prepare-all, decision, commit-some and N >= 1, not \"{}\"", spec));
  };
  const size_t colon = spec.find(':');
  if (colon == std::string_view::npos) return bad();
  const std::string_view name = spec.substr(0, colon), count = spec.substr(colon + 1);
  for (const auto& [n, p] : kFaultPoints) {
    if (n == name) out.point_ = p;
  }
  auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), out.at_commit_);
  if (out.point_ == FaultPoint::kNone || ec != std::errc() || end != count.data() + count.size() ||
      out.at_commit_ < 1) {
    return bad();
  }
  return out;
}

void FaultInjector::Fire(FaultPoint point, const std::string& gid) {
  log::warn("test fault {}: killing the router during transaction {}", FaultName(point), gid);
  spdlog::default_logger()->flush();
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);  // not reached
}

// ---------------------------------------------------------------------------------------------
// DecisionLog

struct DecisionLog::Pending {
  explicit Pending(asio::any_io_executor ex, std::string g)
      : gid(std::move(g)), timer(ex, asio::steady_timer::time_point::max()) {}
  std::string gid;
  asio::steady_timer timer;
  bool done = false;
  Status result;
};

namespace {

// How long a decision may take before its outcome is declared unknown.
constexpr auto kReplyTimeout = std::chrono::seconds(30);

}  // namespace

DecisionLog::DecisionLog(asio::any_io_executor executor, const TwoPhaseContext& context,
                         int connect_timeout_s)
    : executor_(executor), context_(context), connect_timeout_s_(connect_timeout_s),
      reply_timer_(executor) {}

DecisionLog::~DecisionLog() {
  if (conn_) {
    conn_->SetHandler(nullptr);
    conn_->Close();
  }
}

asio::awaitable<Status> DecisionLog::Record(std::string gid) {
  auto pending = std::make_shared<Pending>(executor_, std::move(gid));
  queued_.push_back(pending);
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(executor_, WriteLoop(), asio::detached);
  }
  while (!pending->done) co_await pending->timer.async_wait(use_tuple);
  co_return pending->result;
}

asio::awaitable<void> DecisionLog::WriteLoop() {
  while (!queued_.empty()) {
    std::vector<std::shared_ptr<Pending>> batch;
    batch.swap(queued_);
    co_await WriteBatch(batch);
    for (auto& p : batch) {
      p->done = true;
      p->timer.cancel();
    }
  }
  writing_ = false;
}

asio::awaitable<void> DecisionLog::WriteBatch(std::vector<std::shared_ptr<Pending>>& batch) {
  auto fail_all = [&](const Status& s) {
    for (auto& p : batch) p->result = s;
  };
  if (!conn_ || conn_->closed()) {
    conn_.reset();
    auto conn = co_await backend::ServerConn::Connect(executor_, context_.catalog,
                                                      connect_timeout_s_, this);
    if (!conn.ok()) {
      fail_all(Status::Error(sqlstate::kConnectionFailure,
                             fmt::format("cannot record the commit decision in the catalog: {}",
                                         conn.status().message())));
      co_return;
    }
    conn_ = std::move(conn.value());
  }
  // Ids are ours, made of [A-Za-z0-9_-]: safe as literals.
  std::string sql = "INSERT INTO mosaic.transactions (gid) VALUES ";
  for (size_t i = 0; i < batch.size(); ++i) {
    sql += fmt::format("{}('{}')", i ? ", " : "", batch[i]->gid);
  }
  sql += " ON CONFLICT (gid) DO NOTHING RETURNING gid";
  std::string out;
  protocol::WriteQuery(&out, sql);
  inserted_.clear();
  reply_error_ = Status::OK();
  reply_done_ = false;
  awaiting_reply_ = true;
  auto conn = conn_;  // keeps it alive across the awaits
  Status written = co_await conn->Write(out);
  if (written.ok()) {
    reply_timer_.expires_after(kReplyTimeout);
    while (!reply_done_) {
      auto [ec] = co_await reply_timer_.async_wait(use_tuple);
      if (!ec && !reply_done_) {  // timed out
        reply_error_ = Status::Error(sqlstate::kTransactionResolutionUnknown,
                                     "the catalog did not confirm the commit decision in time");
        conn->Close();
        break;
      }
    }
  } else {
    reply_error_ = Status::Error(sqlstate::kTransactionResolutionUnknown, written.message());
  }
  awaiting_reply_ = false;
  if (!reply_error_.ok()) {
    fail_all(reply_error_);
    co_return;
  }
  for (auto& p : batch) {
    if (!inserted_.count(p->gid)) {
      // The recovery pass recorded 'abort' first (this transaction took too long).
      p->result = Status::Error(sqlstate::kConnectionFailure,
                                fmt::format("transaction {} was rolled back by the recovery pass", p->gid));
    }
  }
}

void DecisionLog::OnServerMessage(backend::ServerConn& /*server*/, const protocol::Frame& frame) {
  switch (frame.type) {
    case 'D': {  // DataRow with one column: a gid
      std::string_view body = frame.body;
      if (body.size() < 6) break;
      int32_t len = 0;
      for (int i = 2; i < 6; ++i) len = (len << 8) | static_cast<unsigned char>(body[i]);
      if (len >= 0 && static_cast<size_t>(len) <= body.size() - 6) {
        inserted_.emplace(body.substr(6, static_cast<size_t>(len)));
      }
      break;
    }
    case 'E': {
      protocol::ErrorFields fields;
      if (protocol::ParseErrorFields(frame.body, &fields).ok()) {
        reply_error_ = Status::Error(fields.code, fmt::format("cannot record the commit decision in the catalog: {}", fields.message));
      } else {
        reply_error_ = Status::Internal("cannot record the commit decision in the catalog");
      }
      break;
    }
    case 'Z':
      if (awaiting_reply_) {
        reply_done_ = true;
        reply_timer_.cancel();
      }
      break;
    default:
      break;
  }
}

asio::awaitable<void> DecisionLog::OnServerBatchDone(backend::ServerConn& /*server*/) { co_return; }

void DecisionLog::OnServerClosed(backend::ServerConn& /*server*/, const Status& why) {
  if (awaiting_reply_ && !reply_done_) {
    reply_error_ = Status::Error(sqlstate::kTransactionResolutionUnknown,
                                 fmt::format("lost the catalog connection while recording the commit decision: {}", why.message()));
    reply_done_ = true;
    reply_timer_.cancel();
  }
}

}  // namespace mosaic::frontend
