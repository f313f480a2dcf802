// Session internals shared by session.cc and session_route.cc.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/session.h"
#include "protocol/reader.h"
#include "router/merge.h"
#include "router/router.h"

namespace mosaic::frontend {

// The tag of the last CommandComplete among the protocol messages in `out` ("" if none).
std::string_view LastCommandTag(std::string_view out);
// A CommandComplete message of `tag`.
std::string CommandCompleteMessage(std::string_view tag);
// A message of no body (ParseComplete, BindComplete, CloseComplete, NoData).
std::string EmptyMessage(char type);

// The combined reply of one statement run on several nodes.
struct Session::Gather {
  enum class Mode : uint8_t { kMerge, kWrite, kCopyOut, kCopyIn };
  Mode mode = Mode::kMerge;
  std::unique_ptr<router::Merger> merger;
  std::string error;        // the first ErrorResponse from any node (whole message)
  Status merge_error;
  std::string description;  // kWrite: the first RowDescription (RETURNING)
  std::string rows;         // kWrite: DataRows (RETURNING), in arrival order
  // kWrite: INSERT ... VALUES ... RETURNING with rows for several nodes: their rows, put back
  // in VALUES order (instead of `rows`).
  std::unique_ptr<router::ReturningOrder> returning_order;
  std::string tag;          // command tag without its count ("INSERT 0", "UPDATE", "COPY")
  int64_t count = 0;
  bool copy_started = false;
  bool replicated = false;  // kWrite to a reference table: every node reports the same rows once
  // kCopyOut WITH HEADER: each node's first row is its header; the client gets one.
  bool copy_header = false;
  bool header_sent = false;
  std::vector<bool> header_seen;  // per source
  std::unique_ptr<router::BinaryCopyJoin> binary_copy;  // kCopyOut (FORMAT binary): one header and trailer
  uint32_t monitor = 0;  // the monitor slot recorded when the result is emitted
};

// A portal bound (extended protocol) to a statement that runs on several nodes. Nothing is sent
// at Bind: the scatter runs at the portal's Describe or Execute, whichever comes first.
struct Session::ScatterPortal {
  std::vector<int> nodes;
  std::vector<std::string> sqls;       // per node
  std::vector<std::vector<int32_t>> param_types;  // per node
  std::string bind_rest;               // parameter formats and values, result formats
  std::shared_ptr<Gather> gather;      // mode and merger set at Bind
  bool write = false;
  bool returning = false;  // a write with RETURNING: a row limit applies to it, as to a SELECT
  bool ran = false;
  bool failed = false;
  bool error_sent = false;  // the client already has the error
  // Executes with a row limit: the rendered result, how much of it the client has, and the
  // command tag of an exhausted portal's further Executes ("SELECT 0").
  bool held_ready = false;
  // A SELECT whose subqueries Mosaic runs first (session_subplan.cc), its parameters written in:
  // run whole at its Describe or first Execute, its RowDescription kept for Describe, the rest
  // handed out from `held`.
  std::string subplan_sql;
  std::vector<int16_t> subplan_formats;  // the Bind's result formats (its rows are read in text)
  std::string subplan_description;
  std::string held;
  size_t held_sent = 0;
  std::string exhausted_tag;
};

struct Session::CopyIn {
  std::shared_ptr<Gather> gather;
  std::unique_ptr<router::RowRouter> router;
  std::vector<size_t> links;        // link index per target node
  std::vector<std::string> out;     // pending rows per target (CopyData payload)
  std::vector<int> node_ids;
  bool csv = false;
  char delimiter = '\t';
  char quote = '"';
  char escape = '"';
  std::string null_string = "\\N";
  bool header_pending = false;
  bool ended = false;  // saw the "\." end marker
  bool implicit = false;
  std::string partial;  // bytes of an unfinished row
  Status error;
};

// Quotes a value as an escape-string literal, valid whatever standard_conforming_strings is.
inline std::string Literal(std::string_view v) {
  std::string out = "E'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

// `status` as an ErrorResponse message.
inline std::string ErrorMessage(const Status& status) {
  std::string out;
  protocol::WriteError(&out, status);
  return out;
}

// Calls f(type, body) for each protocol message in `messages`.
template <typename F>
void ForEachMessage(std::string_view messages, F f) {
  while (messages.size() >= 5) {
    protocol::MessageReader header(messages.substr(1, 4));
    int32_t length = 0;
    if (!header.ReadInt32(&length) || length < 4 || static_cast<size_t>(length) + 1 > messages.size()) return;
    f(messages[0], messages.substr(5, static_cast<size_t>(length) - 4));
    messages.remove_prefix(static_cast<size_t>(length) + 1);
  }
}

// The column names and (type OID, typmod) pairs of a RowDescription body; false if malformed.
bool ReadRowDescription(std::string_view body, std::vector<std::string>* names,
                        std::vector<std::pair<uint32_t, int32_t>>* types);

// The values of a DataRow body (nullopt for NULL), viewing into it; false if malformed.
bool ReadDataRow(std::string_view body, std::vector<std::optional<std::string_view>>* values);

// OK unless a column of `types` is printed rounded by the nodes (extra_float_digits below 1,
// `exact_floats` false): `what` would then write back rounded values. 0A000 naming `what`.
Status CheckFloatsExact(const std::vector<std::pair<uint32_t, int32_t>>& types, bool exact_floats,
                        std::string_view what);

// Whether a refusal (`refused`, 0A000) of the SELECT `a` may be lifted by running its
// subqueries first (frontend/session_subplan.cc).
bool Subplannable(const sql::Analysis& a, const Status& refused);
// An UPDATE or DELETE refused (0A000) that may hold subqueries Mosaic can run first.
bool WriteSubplannable(const sql::Analysis& a, const Status& refused);

}  // namespace mosaic::frontend
