#include "protocol/codec.h"

#include <fmt/format.h>

#include "protocol/reader.h"

namespace mosaic::protocol {
namespace {

Status Malformed(std::string_view what) {
  return Status::Error(sqlstate::kProtocolViolation, fmt::format("invalid {} message format", what));
}

}  // namespace

DecodeResult Framer::Next(std::string_view buf, Frame* frame, size_t* consumed) {
  const size_t header = phase_ == Phase::kStartup ? 4 : 5;
  if (buf.size() < header) return DecodeResult::kNeedMoreData;
  const char type = phase_ == Phase::kStartup ? 0 : buf[0];
  const uint32_t length = LoadBigEndian32(buf.data() + header - 4);
  const uint32_t limit = phase_ == Phase::kStartup ? kMaxStartupPacketLength + 4 : max_length_;
  if (length < 4 || length > limit) {
    error_ = length < 4 ? fmt::format("invalid message length {}", length)
                        : fmt::format("message of {} bytes exceeds the limit of {} bytes", length, limit);
    return DecodeResult::kError;
  }
  const size_t total = header - 4 + size_t{length};
  if (buf.size() < total) return DecodeResult::kNeedMoreData;
  frame->type = type;
  frame->raw = buf.substr(0, total);
  frame->body = buf.substr(header, total - header);
  *consumed = total;
  return DecodeResult::kReady;
}

std::string_view StartupPacket::Get(std::string_view name) const {
  for (const auto& [k, v] : parameters) {
    if (k == name) return v;
  }
  return {};
}

Status ParseStartupPacket(std::string_view body, StartupPacket* out) {
  MessageReader r(body);
  int32_t code = 0;
  if (!r.ReadInt32(&code)) return Malformed("startup packet");
  out->protocol_version = code;
  out->parameters.clear();
  switch (code) {
    case kSslRequestCode:
      out->kind = StartupPacket::Kind::kSslRequest;
      return r.AtEnd() ? Status::OK() : Malformed("SSLRequest");
    case kGssEncRequestCode:
      out->kind = StartupPacket::Kind::kGssEncRequest;
      return r.AtEnd() ? Status::OK() : Malformed("GSSENCRequest");
    case kCancelRequestCode:
      out->kind = StartupPacket::Kind::kCancelRequest;
      if (!r.ReadInt32(&out->cancel_pid) || !r.ReadInt32(&out->cancel_key) || !r.AtEnd()) {
        return Malformed("CancelRequest");
      }
      return Status::OK();
    default:
      break;
  }
  out->kind = StartupPacket::Kind::kStartup;
  if ((code >> 16) != 3) {
    return Status::Unsupported(fmt::format("unsupported frontend protocol {}.{}: server supports 3.0",
                                           code >> 16, code & 0xffff));
  }
  while (true) {
    std::string_view name;
    if (!r.ReadCString(&name)) return Malformed("startup packet");
    if (name.empty()) break;
    std::string_view value;
    if (!r.ReadCString(&value)) return Malformed("startup packet");
    out->parameters.emplace_back(name, value);
  }
  return r.AtEnd() ? Status::OK() : Malformed("startup packet");
}

Status ParseQuery(std::string_view body, QueryMessage* out) {
  MessageReader r(body);
  if (!r.ReadCString(&out->sql) || !r.AtEnd()) return Malformed("Query");
  return Status::OK();
}

Status ParseParse(std::string_view body, ParseMessage* out) {
  MessageReader r(body);
  uint16_t count = 0;
  if (!r.ReadCString(&out->name) || !r.ReadCString(&out->query) || !r.ReadUint16(&count)) {
    return Malformed("Parse");
  }
  if (r.remaining() < size_t{count} * 4) return Malformed("Parse");  // before allocating
  out->param_types.resize(static_cast<size_t>(count));
  for (auto& type : out->param_types) {
    if (!r.ReadInt32(&type)) return Malformed("Parse");
  }
  return r.AtEnd() ? Status::OK() : Malformed("Parse");
}

Status ParseBindHeader(std::string_view body, BindHeader* out) {
  MessageReader r(body);
  if (!r.ReadCString(&out->portal) || !r.ReadCString(&out->statement)) return Malformed("Bind");
  out->rest = r.Rest();
  return Status::OK();
}

namespace {
bool ReadFormats(MessageReader& r, std::vector<int16_t>* formats) {
  uint16_t count = 0;
  if (!r.ReadUint16(&count)) return false;
  if (r.remaining() < size_t{count} * 2) return false;  // before allocating
  formats->resize(static_cast<size_t>(count));
  for (auto& f : *formats) {
    if (!r.ReadInt16(&f) || (f != 0 && f != 1)) return false;
  }
  return true;
}
}  // namespace

Status ParseBind(std::string_view body, BindMessage* out) {
  MessageReader r(body);
  if (!r.ReadCString(&out->portal) || !r.ReadCString(&out->statement) ||
      !ReadFormats(r, &out->param_formats)) {
    return Malformed("Bind");
  }
  uint16_t count = 0;
  if (!r.ReadUint16(&count)) return Malformed("Bind");
  if (r.remaining() < size_t{count} * 4) return Malformed("Bind");  // each has a length word
  out->params.resize(static_cast<size_t>(count));
  for (auto& param : out->params) {
    int32_t len = 0;
    if (!r.ReadInt32(&len) || len < -1) return Malformed("Bind");
    std::string_view value;
    if (len == -1) {
      param.reset();
    } else if (r.ReadBytes(static_cast<size_t>(len), &value)) {
      param = value;
    } else {
      return Malformed("Bind");
    }
  }
  if (!ReadFormats(r, &out->result_formats) || !r.AtEnd()) return Malformed("Bind");
  const size_t nformats = out->param_formats.size();
  if (nformats > 1 && nformats != out->params.size()) {
    return Status::Error(sqlstate::kProtocolViolation,
                         fmt::format("bind message has {} parameter formats but {} parameters",
                                     nformats, out->params.size()));
  }
  return Status::OK();
}

namespace {
Status ParseKindAndName(std::string_view body, std::string_view what, char* kind,
                        std::string_view* name) {
  MessageReader r(body);
  if (!r.ReadByte(kind) || !r.ReadCString(name) || !r.AtEnd()) return Malformed(what);
  if (*kind != 'S' && *kind != 'P') {
    return Status::Error(sqlstate::kProtocolViolation,
                         fmt::format("invalid {} message subtype {}", what, static_cast<int>(*kind)));
  }
  return Status::OK();
}
}  // namespace

Status ParseDescribe(std::string_view body, DescribeMessage* out) {
  return ParseKindAndName(body, "Describe", &out->kind, &out->name);
}

Status ParseClose(std::string_view body, CloseMessage* out) {
  return ParseKindAndName(body, "Close", &out->kind, &out->name);
}

Status ParseExecute(std::string_view body, ExecuteMessage* out) {
  MessageReader r(body);
  if (!r.ReadCString(&out->portal) || !r.ReadInt32(&out->max_rows) || !r.AtEnd()) {
    return Malformed("Execute");
  }
  return Status::OK();
}

Status ParseErrorFields(std::string_view body, ErrorFields* out) {
  MessageReader r(body);
  *out = ErrorFields{};
  while (true) {
    char field = 0;
    if (!r.ReadByte(&field)) return Malformed("ErrorResponse");
    if (field == 0) break;
    std::string_view value;
    if (!r.ReadCString(&value)) return Malformed("ErrorResponse");
    switch (field) {
      case 'S': if (out->severity.empty()) out->severity = value; break;
      case 'V': out->severity = value; break;
      case 'C': out->code = value; break;
      case 'M': out->message = value; break;
      case 'D': out->detail = value; break;
      case 'H': out->hint = value; break;
      default: break;
    }
  }
  return r.AtEnd() ? Status::OK() : Malformed("ErrorResponse");
}

Status ParseReadyForQuery(std::string_view body, char* tx_status) {
  MessageReader r(body);
  if (!r.ReadByte(tx_status) || !r.AtEnd()) return Malformed("ReadyForQuery");
  if (*tx_status != kTxIdle && *tx_status != kTxInBlock && *tx_status != kTxFailed) {
    return Malformed("ReadyForQuery");
  }
  return Status::OK();
}

Status ParseParameterStatus(std::string_view body, std::string_view* name, std::string_view* value) {
  MessageReader r(body);
  if (!r.ReadCString(name) || !r.ReadCString(value) || !r.AtEnd()) return Malformed("ParameterStatus");
  return Status::OK();
}

Status ParseAuthentication(std::string_view body, int32_t* code, std::string_view* data) {
  MessageReader r(body);
  if (!r.ReadInt32(code)) return Malformed("Authentication");
  *data = r.Rest();
  return Status::OK();
}

// ---- Encoder ----

MessageWriter& MessageWriter::Begin(char type) {
  if (type != 0) out_->push_back(type);
  start_ = out_->size();
  out_->append(4, '\0');
  return *this;
}

MessageWriter& MessageWriter::Int16(int16_t v) {
  out_->push_back(static_cast<char>((v >> 8) & 0xff));
  out_->push_back(static_cast<char>(v & 0xff));
  return *this;
}

MessageWriter& MessageWriter::Int32(int32_t v) {
  char buf[4];
  StoreBigEndian32(buf, static_cast<uint32_t>(v));
  out_->append(buf, 4);
  return *this;
}

MessageWriter& MessageWriter::CString(std::string_view s) {
  out_->append(s);
  out_->push_back('\0');
  return *this;
}

void MessageWriter::End() {
  StoreBigEndian32(out_->data() + start_, static_cast<uint32_t>(out_->size() - start_));
}

namespace {
std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kFatal: return "FATAL";
    case Severity::kNotice: return "NOTICE";
    case Severity::kWarning: return "WARNING";
    case Severity::kError: break;
  }
  return "ERROR";
}
}  // namespace

void WriteErrorResponse(std::string* out, Severity severity, std::string_view sqlstate,
                        std::string_view message, std::string_view detail) {
  const bool notice = severity == Severity::kNotice || severity == Severity::kWarning;
  MessageWriter w(out);
  w.Begin(notice ? be::kNoticeResponse : be::kErrorResponse);
  w.Byte('S').CString(SeverityName(severity));
  w.Byte('V').CString(SeverityName(severity));
  w.Byte('C').CString(sqlstate);
  w.Byte('M').CString(message);
  if (!detail.empty()) w.Byte('D').CString(detail);
  w.Byte('\0');
  w.End();
}

void WriteErrorWithSeverity(std::string* out, const ErrorFields& f, Severity severity) {
  const bool notice = severity == Severity::kNotice || severity == Severity::kWarning;
  MessageWriter w(out);
  w.Begin(notice ? be::kNoticeResponse : be::kErrorResponse);
  w.Byte('S').CString(SeverityName(severity));
  w.Byte('V').CString(SeverityName(severity));
  w.Byte('C').CString(f.code);
  w.Byte('M').CString(f.message);
  if (!f.detail.empty()) w.Byte('D').CString(f.detail);
  if (!f.hint.empty()) w.Byte('H').CString(f.hint);
  w.Byte('\0');
  w.End();
}

bool MapErrorPosition(std::string* message, const std::function<std::optional<int>(int)>& map) {
  if (message->size() < 5) return false;
  MessageReader r(std::string_view(*message).substr(5));
  std::string mapped;
  MessageWriter w(&mapped);
  w.Begin((*message)[0]);
  while (true) {
    char field = 0;
    if (!r.ReadByte(&field)) return false;
    if (field == 0) break;
    std::string_view value;
    if (!r.ReadCString(&value)) return false;
    if (field == 'P') {
      int position = 0;
      for (const char c : value) {
        if (c < '0' || c > '9' || position > 100'000'000) return false;
        position = position * 10 + (c - '0');
      }
      const std::optional<int> to = map(position);
      if (to) w.Byte('P').CString(std::to_string(*to));
      continue;
    }
    w.Byte(field).CString(value);
  }
  if (!r.AtEnd()) return false;
  w.Byte('\0');
  w.End();
  *message = std::move(mapped);
  return true;
}

void WriteAuthentication(std::string* out, int32_t code, std::string_view data) {
  MessageWriter(out).Begin(be::kAuthentication).Int32(code).Bytes(data).End();
}

void WriteAuthenticationSasl(std::string* out, const std::vector<std::string_view>& mechanisms) {
  MessageWriter w(out);
  w.Begin(be::kAuthentication).Int32(auth::kSasl);
  for (auto m : mechanisms) w.CString(m);
  w.Byte('\0');
  w.End();
}

void WriteParameterStatus(std::string* out, std::string_view name, std::string_view value) {
  MessageWriter(out).Begin(be::kParameterStatus).CString(name).CString(value).End();
}

void WriteBackendKeyData(std::string* out, int32_t pid, int32_t key) {
  MessageWriter(out).Begin(be::kBackendKeyData).Int32(pid).Int32(key).End();
}

void WriteNegotiateProtocolVersion(std::string* out, int32_t version,
                                   const std::vector<std::string_view>& unrecognized_options) {
  MessageWriter w(out);
  w.Begin(be::kNegotiateProtocolVersion).Int32(version).Int32(static_cast<int32_t>(unrecognized_options.size()));
  for (auto name : unrecognized_options) w.CString(name);
  w.End();
}

void WriteReadyForQuery(std::string* out, char tx_status) {
  MessageWriter(out).Begin(be::kReadyForQuery).Byte(tx_status).End();
}

void WriteCommandComplete(std::string* out, std::string_view tag) {
  MessageWriter(out).Begin(be::kCommandComplete).CString(tag).End();
}

void WriteEmpty(std::string* out, char type) { MessageWriter(out).Begin(type).End(); }

void WriteTextRowDescription(std::string* out, const std::vector<std::string_view>& names) {
  constexpr int32_t kTextOid = 25;
  MessageWriter w(out);
  w.Begin(be::kRowDescription).Int16(static_cast<int16_t>(names.size()));
  for (auto name : names) {
    w.CString(name).Int32(0).Int16(0).Int32(kTextOid).Int16(-1).Int32(-1).Int16(0);
  }
  w.End();
}

void WriteValueRowDescription(std::string* out, std::string_view name, int32_t type_oid, int16_t type_size) {
  MessageWriter(out).Begin(be::kRowDescription).Int16(1).CString(name).Int32(0).Int16(0).Int32(type_oid)
      .Int16(type_size).Int32(-1).Int16(0).End();
}

void WriteDataRow(std::string* out, const std::vector<std::optional<std::string_view>>& values) {
  MessageWriter w(out);
  w.Begin(be::kDataRow).Int16(static_cast<int16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      w.Int32(-1);
    } else {
      w.Int32(static_cast<int32_t>(v->size())).Bytes(*v);
    }
  }
  w.End();
}

void WriteQuery(std::string* out, std::string_view sql) {
  MessageWriter(out).Begin(fe::kQuery).CString(sql).End();
}

void WriteParse(std::string* out, std::string_view name, std::string_view query,
                const std::vector<int32_t>& param_types) {
  MessageWriter w(out);
  w.Begin(fe::kParse).CString(name).CString(query).Int16(static_cast<int16_t>(param_types.size()));
  for (int32_t t : param_types) w.Int32(t);
  w.End();
}

void WriteBindRenamed(std::string* out, std::string_view portal, std::string_view statement,
                      std::string_view rest) {
  MessageWriter(out).Begin(fe::kBind).CString(portal).CString(statement).Bytes(rest).End();
}

void WriteDescribe(std::string* out, char kind, std::string_view name) {
  MessageWriter(out).Begin(fe::kDescribe).Byte(kind).CString(name).End();
}

void WriteClose(std::string* out, char kind, std::string_view name) {
  MessageWriter(out).Begin(fe::kClose).Byte(kind).CString(name).End();
}

void WriteSync(std::string* out) { WriteEmpty(out, fe::kSync); }

void WriteExecute(std::string* out, std::string_view portal, int32_t max_rows) {
  MessageWriter w(out);
  w.Begin(fe::kExecute).CString(portal).Int32(max_rows).End();
}

void WriteCopyData(std::string* out, std::string_view data) {
  MessageWriter w(out);
  w.Begin(fe::kCopyData).Bytes(data).End();
}

void WriteCopyFail(std::string* out, std::string_view message) {
  MessageWriter w(out);
  w.Begin(fe::kCopyFail).CString(message).End();
}

void WriteStartup(std::string* out, const std::vector<std::pair<std::string, std::string>>& params) {
  MessageWriter w(out);
  w.Begin(0).Int32(kProtocolVersion3);
  for (const auto& [k, v] : params) w.CString(k).CString(v);
  w.Byte('\0');
  w.End();
}

void WriteCancelRequest(std::string* out, int32_t pid, int32_t key) {
  MessageWriter(out).Begin(0).Int32(kCancelRequestCode).Int32(pid).Int32(key).End();
}

}  // namespace mosaic::protocol
