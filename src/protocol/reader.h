// MessageReader: typed, bounds-checked reads from one message body.
//
// Every read either succeeds and advances, or fails and leaves the position unchanged, so a
// caller can never run past a short or malformed message. Never allocates except where a
// method returns an owning type. Not thread-safe (a value type over borrowed bytes).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace mosaic::protocol {

class MessageReader {
 public:
  explicit MessageReader(std::string_view body) : data_(body) {}

  size_t remaining() const { return data_.size() - pos_; }
  bool AtEnd() const { return pos_ == data_.size(); }

  bool ReadByte(char* out) {
    if (remaining() < 1) return false;
    *out = data_[pos_++];
    return true;
  }
  bool ReadInt16(int16_t* out) {
    if (remaining() < 2) return false;
    auto p = reinterpret_cast<const unsigned char*>(data_.data() + pos_);
    *out = static_cast<int16_t>((p[0] << 8) | p[1]);
    pos_ += 2;
    return true;
  }
  // PostgreSQL sends counts (parameters, formats) as unsigned 16-bit values.
  bool ReadUint16(uint16_t* out) {
    int16_t v = 0;
    if (!ReadInt16(&v)) return false;
    *out = static_cast<uint16_t>(v);
    return true;
  }
  bool ReadInt32(int32_t* out) {
    if (remaining() < 4) return false;
    auto p = reinterpret_cast<const unsigned char*>(data_.data() + pos_);
    *out = static_cast<int32_t>((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                                (uint32_t{p[2]} << 8) | uint32_t{p[3]});
    pos_ += 4;
    return true;
  }
  // Reads a NUL-terminated string; the view excludes the NUL and points into the body.
  bool ReadCString(std::string_view* out) {
    if (remaining() == 0) return false;  // also keeps a null data() away from memchr
    const void* nul = std::memchr(data_.data() + pos_, '\0', remaining());
    if (nul == nullptr) return false;
    size_t len = static_cast<const char*>(nul) - (data_.data() + pos_);
    *out = data_.substr(pos_, len);
    pos_ += len + 1;
    return true;
  }
  bool ReadBytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  std::string_view Rest() const { return data_.substr(pos_); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Big-endian helpers for framing.
inline uint32_t LoadBigEndian32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}
inline uint16_t LoadBigEndian16(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}
inline void StoreBigEndian32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}
inline void StoreBigEndian16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}

}  // namespace mosaic::protocol
