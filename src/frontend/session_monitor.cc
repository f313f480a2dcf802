// Session ↔ monitor: one QueryEvent per routed statement, built at routing time and recorded at
// its CommandComplete (with the monitor off only its latency is kept, for pipelining). Cheap by
// design (data path): the event is filled from what the session already holds, and recording
// copies it into the worker's ring (dropped when the ring is full).
#include <algorithm>

#include "frontend/session.h"
#include "frontend/session_internal.h"
#include "monitor/event_builder.h"

namespace mosaic::frontend {

uint32_t Session::MonitorBegin(const sql::Analysis& a, const router::Bound& bound, const router::Route& route,
                               uint64_t fingerprint, std::string_view sql_text,
                               const std::vector<sql::Literal>& literals) {
  if (a.tables.empty()) return 0;
  if (++monitor_seq_ == 0) monitor_seq_ = 1;
  MonitorSlot& slot = monitor_slots_[monitor_seq_ % monitor_slots_.size()];
  slot.seq = monitor_seq_;
  slot.start = std::chrono::steady_clock::now();
  // Timed even with the monitor off: pipelining goes by the latency of each shape.
  monitor::Recorder* recorder = worker_.recorder();
  if (recorder == nullptr) {
    slot.event.fingerprint = fingerprint;
    return monitor_seq_;
  }
  if (temp_tables_.empty() || bound.temp_tables != nullptr) {
    monitor::BuildEvent(a, bound, route, fingerprint, &slot.event);
  } else {
    router::Bound with_temp = bound;  // their names are left out
    with_temp.temp_tables = &temp_tables_;
    monitor::BuildEvent(a, with_temp, route, fingerprint, &slot.event);
  }
  if (recorder->NeedsShape(fingerprint)) recorder->SendShape(fingerprint, monitor::NormalizedText(sql_text, literals));
  return monitor_seq_;
}

void Session::MonitorEnd(uint32_t seq, int64_t rows, std::chrono::steady_clock::time_point began) {
  if (seq == 0) return;
  MonitorSlot& slot = monitor_slots_[seq % monitor_slots_.size()];
  if (slot.seq != seq) return;  // overwritten by a later statement of a deep pipeline
  slot.seq = 0;
  const auto now = std::chrono::steady_clock::now();
  const auto latency_us = static_cast<uint32_t>(
      std::min<int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - slot.start).count(), UINT32_MAX));
  // Which shapes may be pipelined: by the statement's own run, not its wait in a pipeline.
  const auto run_us = began > slot.start ? std::chrono::duration_cast<std::chrono::microseconds>(now - began).count()
                                         : int64_t{latency_us};
  worker_.NoteLatency(slot.event.fingerprint, static_cast<uint32_t>(std::clamp<int64_t>(run_us, 0, UINT32_MAX)));
  monitor::Recorder* recorder = worker_.recorder();
  monitor::QueryEvent* e = recorder ? recorder->Claim() : nullptr;
  if (e == nullptr) return;
  *e = slot.event;
  e->rows = rows;
  e->latency_us = latency_us;
  e->unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  recorder->Commit();
}

void Session::MonitorEndTag(uint32_t seq, std::string_view body, std::chrono::steady_clock::time_point began) {
  if (seq != 0) MonitorEnd(seq, monitor::RowsFromTag(body), began);
}

}  // namespace mosaic::frontend
