// PostgreSQL v3 message codec: framing, typed parsing of the messages Mosaic inspects, and an
// encoder for the messages Mosaic generates itself.
//
// The framer is separate from any session (Envoy's decoder split): it reports NeedMoreData /
// Ready / Error and never consumes a partial message. Parsed messages hold string_views into the
// caller's buffer: they are valid only while that buffer is. No exceptions; no I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "protocol/message.h"

namespace mosaic::protocol {

// One complete message. For startup-phase packets `type` is 0 (they have no type byte).
struct Frame {
  char type = 0;
  std::string_view body;  // payload after the length word
  std::string_view raw;   // the whole message, header included, for pass-through forwarding
};

enum class DecodeResult { kNeedMoreData, kReady, kError };

// Splits a byte stream into messages. One Framer per direction of one connection.
class Framer {
 public:
  enum class Phase { kStartup, kRegular };

  // max_message_length bounds a regular message (length word included); startup packets are
  // bounded by kMaxStartupPacketLength as in PostgreSQL.
  Framer(Phase phase, uint32_t max_message_length)
      : phase_(phase), max_length_(max_message_length) {}

  // Examines `buf`, the unconsumed bytes. On kReady fills *frame and sets *consumed to the
  // message's size; on kNeedMoreData and kError nothing is consumed. After kError, error()
  // says why (the connection should be closed with a FATAL 08P01).
  DecodeResult Next(std::string_view buf, Frame* frame, size_t* consumed);

  void set_phase(Phase phase) { phase_ = phase; }
  Phase phase() const { return phase_; }
  const std::string& error() const { return error_; }

 private:
  Phase phase_;
  uint32_t max_length_;
  std::string error_;
};

// ---- Startup-phase packets ----
struct StartupPacket {
  enum class Kind { kStartup, kSslRequest, kGssEncRequest, kCancelRequest };
  Kind kind = Kind::kStartup;
  int32_t protocol_version = 0;
  std::vector<std::pair<std::string_view, std::string_view>> parameters;  // kStartup
  int32_t cancel_pid = 0;                                                  // kCancelRequest
  int32_t cancel_key = 0;                                                  // kCancelRequest
  // Value of a startup parameter, or "" when absent.
  std::string_view Get(std::string_view name) const;
};
// Parses a startup-phase frame body. Errors carry SQLSTATE 08P01 (0A000 for an unsupported
// protocol version).
Status ParseStartupPacket(std::string_view body, StartupPacket* out);

// ---- Frontend messages ----
struct QueryMessage { std::string_view sql; };
struct ParseMessage {
  std::string_view name;
  std::string_view query;
  std::vector<int32_t> param_types;
};
// Bind split into what routing needs cheaply (names) and the untouched remainder, so a
// statement name can be rewritten without decoding parameters.
struct BindHeader {
  std::string_view portal;
  std::string_view statement;
  std::string_view rest;  // format codes, parameters, result formats: forwarded verbatim
};
struct BindMessage {
  std::string_view portal;
  std::string_view statement;
  std::vector<int16_t> param_formats;
  std::vector<std::optional<std::string_view>> params;  // nullopt = SQL NULL
  std::vector<int16_t> result_formats;
};
struct DescribeMessage { char kind = 'S'; std::string_view name; };  // kind 'S' or 'P'
struct CloseMessage { char kind = 'S'; std::string_view name; };
struct ExecuteMessage { std::string_view portal; int32_t max_rows = 0; };

Status ParseQuery(std::string_view body, QueryMessage* out);
Status ParseParse(std::string_view body, ParseMessage* out);
Status ParseBindHeader(std::string_view body, BindHeader* out);
Status ParseBind(std::string_view body, BindMessage* out);
Status ParseDescribe(std::string_view body, DescribeMessage* out);
Status ParseClose(std::string_view body, CloseMessage* out);
Status ParseExecute(std::string_view body, ExecuteMessage* out);

// ---- Backend messages ----
struct ErrorFields {
  std::string_view severity;  // 'S' (localized) or 'V'
  std::string_view code;      // 'C'
  std::string_view message;   // 'M'
  std::string_view detail;    // 'D'
  std::string_view hint;      // 'H'
};
// Parses ErrorResponse / NoticeResponse fields.
Status ParseErrorFields(std::string_view body, ErrorFields* out);
// Parses ReadyForQuery: the transaction status byte.
Status ParseReadyForQuery(std::string_view body, char* tx_status);
Status ParseParameterStatus(std::string_view body, std::string_view* name, std::string_view* value);
Status ParseAuthentication(std::string_view body, int32_t* code, std::string_view* data);

// ---- Encoder ----
// Appends messages to a caller-owned buffer. Begin/End bracket one message; End patches the
// length word. Not thread-safe.
class MessageWriter {
 public:
  explicit MessageWriter(std::string* out) : out_(out) {}
  MessageWriter& Begin(char type);  // type 0: untyped (startup-phase) packet
  MessageWriter& Byte(char b) { out_->push_back(b); return *this; }
  MessageWriter& Int16(int16_t v);
  MessageWriter& Int32(int32_t v);
  MessageWriter& CString(std::string_view s);
  MessageWriter& Bytes(std::string_view s) { out_->append(s); return *this; }
  void End();

 private:
  std::string* out_;
  size_t start_ = 0;
};

enum class Severity { kError, kFatal, kNotice, kWarning };

// Message builders. Each appends one complete message to *out.
void WriteErrorResponse(std::string* out, Severity severity, std::string_view sqlstate,
                        std::string_view message, std::string_view detail = {});
inline void WriteError(std::string* out, const Status& status, Severity severity = Severity::kError) {
  WriteErrorResponse(out, severity, status.sqlstate(), status.message());
}
// Re-encodes a backend ErrorResponse with another severity (FATAL from a pooled server becomes
// ERROR for the client, whose own connection stays up).
void WriteErrorWithSeverity(std::string* out, const ErrorFields& fields, Severity severity);
// An ErrorResponse or NoticeResponse message (type and length first) with its position field
// ('P', 1-based characters into the statement) replaced by map(position), or dropped where map
// gives nullopt; every other field as it was. False (nothing changed) if it is malformed.
bool MapErrorPosition(std::string* message, const std::function<std::optional<int>(int)>& map);
void WriteAuthentication(std::string* out, int32_t code, std::string_view data = {});
void WriteAuthenticationSasl(std::string* out, const std::vector<std::string_view>& mechanisms);
void WriteParameterStatus(std::string* out, std::string_view name, std::string_view value);
void WriteBackendKeyData(std::string* out, int32_t pid, int32_t key);
// NegotiateProtocolVersion: `version` is the newest protocol version supported for the major
// version the client asked for (major << 16 | minor, as PostgreSQL sends it), followed by the
// `_pq_.` startup options not recognized.
void WriteNegotiateProtocolVersion(std::string* out, int32_t version,
                                   const std::vector<std::string_view>& unrecognized_options);
void WriteReadyForQuery(std::string* out, char tx_status);
void WriteCommandComplete(std::string* out, std::string_view tag);
void WriteEmpty(std::string* out, char type);  // ParseComplete, BindComplete, CloseComplete, NoData, EmptyQueryResponse
// A RowDescription of text columns (type oid 25) with the given names.
void WriteTextRowDescription(std::string* out, const std::vector<std::string_view>& names);
// A RowDescription of one column of a computed value (no table) of type `type_oid`, `type_size`
// bytes (-1: variable), in text: what PostgreSQL sends for `SELECT f(...)`.
void WriteValueRowDescription(std::string* out, std::string_view name, int32_t type_oid, int16_t type_size);
void WriteDataRow(std::string* out, const std::vector<std::optional<std::string_view>>& values);
void WriteQuery(std::string* out, std::string_view sql);
void WriteParse(std::string* out, std::string_view name, std::string_view query,
                const std::vector<int32_t>& param_types);
// Bind with a replaced statement name and the original remainder.
void WriteBindRenamed(std::string* out, std::string_view portal, std::string_view statement,
                      std::string_view rest);
void WriteDescribe(std::string* out, char kind, std::string_view name);
void WriteClose(std::string* out, char kind, std::string_view name);
void WriteSync(std::string* out);
void WriteExecute(std::string* out, std::string_view portal, int32_t max_rows);
void WriteCopyData(std::string* out, std::string_view data);
void WriteCopyFail(std::string* out, std::string_view message);
void WriteStartup(std::string* out, const std::vector<std::pair<std::string, std::string>>& params);
void WriteCancelRequest(std::string* out, int32_t pid, int32_t key);

}  // namespace mosaic::protocol
