// SCRAM-SHA-256 server side: message parsing and the key arithmetic of RFC 5802 section 3.
// Pure computation on strings; no I/O, no exceptions, no shared state.
#include "frontend/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>
#include <cstdlib>
#include <optional>
#include <utility>
#include <vector>

#include "common/log.h"

namespace mosaic::frontend {
namespace {

using Key = std::array<uint8_t, 32>;

constexpr std::string_view kMechanismPrefix = "SCRAM-SHA-256$";
constexpr size_t kRawNonceLength = 18;  // as PostgreSQL (SCRAM_RAW_NONCE_LEN)
constexpr size_t kDefaultSaltLength = 16;
constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t chunk = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) chunk |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) chunk |= static_cast<uint8_t>(in[i + 2]);
    out += kBase64Alphabet[(chunk >> 18) & 63];
    out += kBase64Alphabet[(chunk >> 12) & 63];
    out += i + 1 < in.size() ? kBase64Alphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kBase64Alphabet[chunk & 63] : '=';
  }
  return out;
}

std::string Base64Encode(const Key& key) {
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

// Strict decoding: standard alphabet, length a multiple of 4, '=' only as final padding.
std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && padding < in.size() && in[in.size() - 1 - padding] == '=') ++padding;
  std::string out;
  uint32_t bits = 0;
  int nbits = 0;
  for (size_t i = 0; i < in.size() - padding; ++i) {
    size_t pos = kBase64Alphabet.find(in[i]);
    if (pos == std::string_view::npos) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(pos);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((bits >> nbits) & 0xff);
    }
  }
  return out;
}

std::optional<Key> DecodeKey(std::string_view b64) {
  std::optional<std::string> raw = Base64Decode(b64);
  if (!raw || raw->size() != Key{}.size()) return std::nullopt;
  Key key;
  std::copy(raw->begin(), raw->end(), key.begin());
  return key;
}

Key Hmac(const Key& key, std::string_view data) {
  Key out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

Key Sha256(const Key& data) {
  Key out{};
  SHA256(data.data(), data.size(), out.data());
  return out;
}

bool RandomBytes(size_t n, std::string* out) {
  out->resize(n);
  return RAND_bytes(reinterpret_cast<unsigned char*>(out->data()), static_cast<int>(n)) == 1;
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t pos; (pos = text.find(sep, start)) != std::string_view::npos; start = pos + 1) {
    parts.push_back(text.substr(start, pos - start));
  }
  parts.push_back(text.substr(start));
  return parts;
}

// True if `field` is "<name>=<value>"; stores the value.
bool ReadAttr(std::string_view field, char name, std::string_view* value) {
  if (field.size() < 2 || field[0] != name || field[1] != '=') return false;
  *value = field.substr(2);
  return true;
}

// RFC 5802 "attr-val": any ASCII letter as the name.
bool IsAnyAttr(std::string_view field) {
  char c = field.empty() ? '\0' : field[0];
  bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return letter && field.size() >= 2 && field[1] == '=';
}

// RFC 5802 "printable": %x21-2B / %x2D-7E.
bool IsValidNonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

Status Malformed(std::string detail) {
  return Status::Error(sqlstate::kProtocolViolation, "malformed SCRAM message: " + detail);
}

Status InvalidVerifier(std::string detail) {
  return Status::Error(sqlstate::kInvalidParameterValue, "invalid SCRAM verifier: " + detail);
}

}  // namespace

// ---- ScramVerifier ----

ScramVerifier ScramVerifier::FromPassword(std::string_view password, std::string_view salt_raw,
                                          int iterations) {
  ScramVerifier v;
  v.iterations = iterations;
  v.salt = std::string(salt_raw);
  if (v.salt.empty() && !RandomBytes(kDefaultSaltLength, &v.salt)) {
    log::error("SCRAM: the system random number generator failed");
    std::abort();
  }
  Key salted{};
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(v.salt.data()),
                    static_cast<int>(v.salt.size()), iterations, EVP_sha256(),
                    static_cast<int>(salted.size()), salted.data());
  v.stored_key = Sha256(Hmac(salted, "Client Key"));
  v.server_key = Hmac(salted, "Server Key");
  return v;
}

Result<ScramVerifier> ScramVerifier::Parse(std::string_view text) {
  if (!text.starts_with(kMechanismPrefix)) return InvalidVerifier("not SCRAM-SHA-256");
  std::vector<std::string_view> parts = Split(text.substr(kMechanismPrefix.size()), '$');
  if (parts.size() != 2) return InvalidVerifier("expected <iterations>:<salt>$<keys>");
  std::vector<std::string_view> params = Split(parts[0], ':');
  std::vector<std::string_view> keys = Split(parts[1], ':');
  if (params.size() != 2 || keys.size() != 2) return InvalidVerifier("missing ':'");

  ScramVerifier v;
  const char* end = params[0].data() + params[0].size();
  auto [ptr, ec] = std::from_chars(params[0].data(), end, v.iterations);
  if (ec != std::errc() || ptr != end || v.iterations < 1) {
    return InvalidVerifier("bad iteration count");
  }
  std::optional<std::string> salt = Base64Decode(params[1]);
  if (!salt || salt->empty()) return InvalidVerifier("bad salt");
  v.salt = std::move(*salt);
  std::optional<Key> stored = DecodeKey(keys[0]);
  std::optional<Key> server = DecodeKey(keys[1]);
  if (!stored || !server) return InvalidVerifier("bad StoredKey or ServerKey");
  v.stored_key = *stored;
  v.server_key = *server;
  return v;
}

std::string ScramVerifier::ToString() const {
  return std::string(kMechanismPrefix) + std::to_string(iterations) + ":" + Base64Encode(salt) +
         "$" + Base64Encode(stored_key) + ":" + Base64Encode(server_key);
}

// ---- ScramServer ----

ScramServer::ScramServer(ScramVerifier verifier, std::string user_name)
    : verifier_(std::move(verifier)), user_name_(std::move(user_name)) {}

ScramServer::ScramServer(ScramVerifier verifier, std::string user_name, std::string server_nonce)
    : verifier_(std::move(verifier)),
      user_name_(std::move(user_name)),
      server_nonce_(std::move(server_nonce)) {}

Status ScramServer::ParseClientFirst(std::string_view message, std::string_view* client_nonce) {
  // gs2-header = gs2-cbind-flag "," [authzid] ","
  size_t c1 = message.find(',');
  size_t c2 = c1 == std::string_view::npos ? c1 : message.find(',', c1 + 1);
  if (c2 == std::string_view::npos) return Malformed("missing GS2 header");
  std::string_view cbind_flag = message.substr(0, c1);
  if (cbind_flag.starts_with("p=")) {
    return Status::Error(sqlstate::kProtocolViolation,
                         "SCRAM channel binding is not supported, but the client requested \"" +
                             std::string(cbind_flag.substr(2)) +
                             "\"; connect with channel_binding=disable or prefer");
  }
  if (cbind_flag != "n" && cbind_flag != "y") return Malformed("unexpected channel-binding flag");
  if (c2 != c1 + 1) {
    return Status::Unsupported("client uses authorization identity, but it is not supported");
  }
  gs2_header_ = std::string(message.substr(0, c2 + 1));
  client_first_bare_ = std::string(message.substr(c2 + 1));

  // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  std::vector<std::string_view> fields = Split(client_first_bare_, ',');
  std::string_view user;
  if (fields[0].starts_with("m=")) {
    return Status::Unsupported("client requires an unsupported SCRAM extension");
  }
  if (fields.size() < 2 || !ReadAttr(fields[0], 'n', &user) ||
      !ReadAttr(fields[1], 'r', client_nonce) || !IsValidNonce(*client_nonce)) {
    return Malformed("expected \"n=<user>,r=<nonce>\" in client-first-message");
  }
  for (size_t i = 2; i < fields.size(); ++i) {
    if (!IsAnyAttr(fields[i])) return Malformed("bad attribute in client-first-message");
  }
  return Status::OK();
}

Result<std::string> ScramServer::HandleClientFirst(std::string_view message) {
  bool in_order = state_ == State::kWaitClientFirst;
  state_ = State::kDone;  // until this message is accepted
  if (!in_order) {
    return Status::Error(sqlstate::kProtocolViolation, "unexpected SCRAM client-first-message");
  }
  std::string_view client_nonce;
  if (Status s = ParseClientFirst(message, &client_nonce); !s.ok()) return s;
  if (server_nonce_.empty()) {
    std::string raw;
    if (!RandomBytes(kRawNonceLength, &raw)) {
      return Status::Internal("could not generate random SCRAM nonce");
    }
    server_nonce_ = Base64Encode(raw);
  }
  combined_nonce_ = std::string(client_nonce) + server_nonce_;
  server_first_ = "r=" + combined_nonce_ + ",s=" + Base64Encode(verifier_.salt) +
                  ",i=" + std::to_string(verifier_.iterations);
  state_ = State::kWaitClientFinal;
  return server_first_;
}

Status ScramServer::CheckChannelBinding(std::string_view encoded) const {
  // Without channel binding the attribute is just the base64 of the gs2 header the client sent
  // first: "biws" for "n,,", "eSws" for "y,,".
  if (encoded != Base64Encode(gs2_header_)) {
    return Status::Error(sqlstate::kProtocolViolation,
                         "unexpected SCRAM channel-binding attribute in client-final-message");
  }
  return Status::OK();
}

Status ScramServer::CheckProof(std::string_view auth_message, std::string_view proof) const {
  Key client_signature = Hmac(verifier_.stored_key, auth_message);
  Key client_key{};
  for (size_t i = 0; i < client_key.size(); ++i) {
    client_key[i] = static_cast<uint8_t>(proof[i]) ^ client_signature[i];
  }
  Key stored = Sha256(client_key);
  if (CRYPTO_memcmp(stored.data(), verifier_.stored_key.data(), stored.size()) != 0) {
    return Status::Error(sqlstate::kInvalidPassword,
                         "password authentication failed for user \"" + user_name_ + "\"");
  }
  return Status::OK();
}

Result<std::string> ScramServer::HandleClientFinal(std::string_view message) {
  bool in_order = state_ == State::kWaitClientFinal;
  state_ = State::kDone;  // whatever happens below, the exchange is over
  if (!in_order) {
    return Status::Error(sqlstate::kProtocolViolation, "unexpected SCRAM client-final-message");
  }
  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  size_t proof_at = message.rfind(",p=");
  if (proof_at == std::string_view::npos) return Malformed("missing proof");
  std::string_view without_proof = message.substr(0, proof_at);
  std::vector<std::string_view> fields = Split(without_proof, ',');
  std::string_view binding, nonce;
  if (fields.size() < 2 || !ReadAttr(fields[0], 'c', &binding) ||
      !ReadAttr(fields[1], 'r', &nonce)) {
    return Malformed("expected \"c=<binding>,r=<nonce>\" in client-final-message");
  }
  for (size_t i = 2; i < fields.size(); ++i) {
    if (!IsAnyAttr(fields[i])) return Malformed("bad attribute in client-final-message");
  }
  if (Status s = CheckChannelBinding(binding); !s.ok()) return s;
  if (nonce != combined_nonce_) {
    return Status::Error(sqlstate::kProtocolViolation, "SCRAM nonce mismatch");
  }
  std::optional<std::string> proof = Base64Decode(message.substr(proof_at + 3));
  if (!proof || proof->size() != Key{}.size()) return Malformed("invalid ClientProof");

  std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  if (Status s = CheckProof(auth_message, *proof); !s.ok()) return s;
  return "v=" + Base64Encode(Hmac(verifier_.server_key, auth_message));
}

}  // namespace mosaic::frontend
