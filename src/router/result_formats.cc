#include "router/result_formats.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string_view>

#include "protocol/codec.h"
#include "protocol/message.h"
#include "protocol/reader.h"
#include "router/value.h"

namespace mosaic::router {

namespace {

namespace be = protocol::be;

// The format code of column `i`, by Bind's rules (0 past a list of codes shorter than the
// columns, which the caller refuses).
int16_t FormatOf(const std::vector<int16_t>& formats, size_t i) {
  if (formats.size() == 1) return formats[0];
  return i < formats.size() ? formats[i] : int16_t{0};
}

// Why column `oid` cannot be sent in binary from the text the nodes printed ("" if it can).
std::string NoBinary(uint32_t oid, TextOutput output) {
  if (!value::HasBinaryCodec(oid)) return "of type " + value::TypeName(oid);
  if (value::IsFloatOid(oid) && !output.exact_floats) {
    return "of floating-point values with extra_float_digits below 1 (the nodes print them rounded)";
  }
  if (value::IsDateTimeOid(oid) && !output.iso_dates) {
    return "of dates and times with a DateStyle other than ISO (Mosaic reads them in ISO)";
  }
  return "";
}

// The RowDescription `body` with its format codes set; the columns' type OIDs in *oids.
bool DescribeInFormats(std::string_view body, const std::vector<int16_t>& formats, std::string* out,
                       std::vector<uint32_t>* oids) {
  protocol::MessageReader r(body);
  int16_t n = 0;
  if (!r.ReadInt16(&n) || n < 0) return false;
  out->assign(body.substr(0, 2));
  for (int16_t i = 0; i < n; ++i) {
    std::string_view name, fixed;
    int16_t format = 0;
    // table OID, column number, type OID, type size, typmod: 16 bytes, then the format code
    if (!r.ReadCString(&name) || !r.ReadBytes(16, &fixed) || !r.ReadInt16(&format)) return false;
    out->append(name).push_back('\0');
    out->append(fixed);
    const int16_t code = FormatOf(formats, static_cast<size_t>(i));
    out->push_back(static_cast<char>((code >> 8) & 0xff));
    out->push_back(static_cast<char>(code & 0xff));
    oids->push_back(protocol::LoadBigEndian32(fixed.data() + 6));
  }
  return r.AtEnd();
}

}  // namespace

Status ToResultFormats(std::string* messages, const std::vector<int16_t>& formats, TextOutput output) {
  for (int16_t code : formats) {
    if (code != 0 && code != 1) {
      return Status::Error("22023", fmt::format("unsupported format code: {}", code));
    }
  }
  if (std::find(formats.begin(), formats.end(), int16_t{1}) == formats.end()) return Status::OK();
  std::string rewritten;
  rewritten.reserve(messages->size() + messages->size() / 4);
  std::vector<uint32_t> oids;
  bool described = false;
  std::string_view rest(*messages);
  std::vector<std::optional<std::string_view>> values;
  std::vector<std::string> converted;
  while (rest.size() >= 5) {
    const auto length = static_cast<size_t>(protocol::LoadBigEndian32(rest.data() + 1));
    if (length < 4 || length + 1 > rest.size()) return Status::Internal("a held reply ends inside a message");
    const char type = rest[0];
    const std::string_view message = rest.substr(0, length + 1), body = message.substr(5);
    rest.remove_prefix(length + 1);
    if (type == be::kRowDescription && !described) {
      std::string desc;
      if (!DescribeInFormats(body, formats, &desc, &oids)) return Status::Internal("a malformed RowDescription");
      if (formats.size() > 1 && formats.size() != oids.size()) {
        return Status::Error("08P01", fmt::format("bind message has {} result formats but query has {} columns",
                                                  formats.size(), oids.size()));
      }
      for (size_t i = 0; i < oids.size(); ++i) {
        if (FormatOf(formats, i) != 1) continue;
        if (std::string why = NoBinary(oids[i], output); !why.empty()) {
          return Status::Unsupported(fmt::format(
              "binary results {} are not supported in a SELECT whose subqueries Mosaic runs first (it reads "
              "several nodes): ask for text (pgjdbc: binaryTransfer=false), or filter the statement to one tenant "
              "or range",
              why));
        }
      }
      protocol::MessageWriter(&rewritten).Begin(be::kRowDescription).Bytes(desc).End();
      described = true;
      continue;
    }
    if (type != be::kDataRow || !described) {
      rewritten.append(message);
      continue;
    }
    protocol::MessageReader r(body);
    int16_t n = 0;
    if (!r.ReadInt16(&n) || static_cast<size_t>(n) != oids.size()) return Status::Internal("a malformed DataRow");
    values.clear();
    converted.clear();
    converted.reserve(oids.size());
    for (size_t i = 0; i < oids.size(); ++i) {
      int32_t size = 0;
      std::string_view v;
      if (!r.ReadInt32(&size) || (size >= 0 && !r.ReadBytes(static_cast<size_t>(size), &v))) {
        return Status::Internal("a malformed DataRow");
      }
      if (size < 0) {
        values.emplace_back(std::nullopt);
      } else if (FormatOf(formats, i) == 1) {
        auto bytes = value::TextToBinary(oids[i], v);
        if (!bytes.ok()) return bytes.status();
        values.emplace_back(converted.emplace_back(std::move(bytes.value())));
      } else {
        values.emplace_back(v);
      }
    }
    protocol::WriteDataRow(&rewritten, values);
  }
  *messages = std::move(rewritten);
  return Status::OK();
}

}  // namespace mosaic::router
