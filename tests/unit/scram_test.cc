// Tests for frontend/scram.h: the RFC 7677 vector, a round trip against a small client written
// here with OpenSSL's own base64 (so the server's base64 is checked independently), and
// rejection of wrong passwords and malformed messages.
#include "frontend/scram.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <string>
#include <vector>

namespace mosaic::frontend {
namespace {

constexpr char kRfcSaltB64[] = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr char kRfcClientFirst[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr char kRfcServerNonce[] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr char kRfcServerFirst[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr char kRfcClientFinal[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr char kRfcServerFinal[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// StoredKey and ServerKey of "pencil" with the RFC salt, computed with Python's hashlib/hmac.
constexpr char kRfcVerifier[] =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

std::string B64Encode(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(n);
  return out;
}

// EVP_DecodeBlock counts the padding as zero bytes; strip them.
std::string B64Decode(const std::string& b64) {
  std::string out(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return "";
  size_t pad = b64.ends_with("==") ? 2 : b64.ends_with("=") ? 1 : 0;
  out.resize(n - pad);
  return out;
}

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Sha256(const std::string& data) {
  unsigned char out[32];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

std::string Xor(std::string a, const std::string& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(a[i] ^ b[i]);
  return a;
}

std::string KeyBytes(const std::array<uint8_t, 32>& key) {
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

// The client half of SCRAM-SHA-256, as libpq does it (empty user name, no channel binding).
class TestClient {
 public:
  TestClient(std::string password, std::string nonce)
      : password_(std::move(password)), nonce_(std::move(nonce)) {}

  std::string ClientFirst() const { return "n,," + Bare(); }

  // Builds client-final-message from server-first-message "r=..,s=..,i=..".
  std::string ClientFinal(const std::string& server_first) {
    std::string nonce, salt;
    int iterations = 0;
    for (size_t start = 0; start < server_first.size();) {
      size_t end = server_first.find(',', start);
      if (end == std::string::npos) end = server_first.size();
      std::string field = server_first.substr(start, end - start);
      if (field.starts_with("r=")) nonce = field.substr(2);
      if (field.starts_with("s=")) salt = B64Decode(field.substr(2));
      if (field.starts_with("i=")) iterations = std::stoi(field.substr(2));
      start = end + 1;
    }
    std::string salted(32, '\0');
    PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()),
                      static_cast<int>(salt.size()), iterations, EVP_sha256(), 32,
                      reinterpret_cast<unsigned char*>(salted.data()));
    std::string without_proof = "c=biws,r=" + nonce;
    std::string auth_message = Bare() + "," + server_first + "," + without_proof;
    std::string client_key = Hmac(salted, "Client Key");
    std::string signature = Hmac(Sha256(client_key), auth_message);
    expected_server_final_ = "v=" + B64Encode(Hmac(Hmac(salted, "Server Key"), auth_message));
    return without_proof + ",p=" + B64Encode(Xor(client_key, signature));
  }

  const std::string& expected_server_final() const { return expected_server_final_; }

 private:
  std::string Bare() const { return "n=,r=" + nonce_; }

  std::string password_;
  std::string nonce_;
  std::string expected_server_final_;
};

ScramVerifier RfcVerifier() {
  return ScramVerifier::FromPassword("pencil", B64Decode(kRfcSaltB64), 4096);
}

// A server that has accepted a valid client-first-message from `client`.
ScramServer StartedServer(TestClient& client, std::string* server_first) {
  ScramServer server(ScramVerifier::FromPassword("secret", "0123456789abcdef", 64), "alice");
  Result<std::string> first = server.HandleClientFirst(client.ClientFirst());
  EXPECT_TRUE(first.ok()) << first.status().ToString();
  *server_first = first.ok() ? first.value() : "";
  return server;
}

TEST(ScramTest, Rfc7677Vector) {
  ScramServer server(RfcVerifier(), "user", kRfcServerNonce);
  Result<std::string> first = server.HandleClientFirst(kRfcClientFirst);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first.value(), kRfcServerFirst);
  Result<std::string> final_message = server.HandleClientFinal(kRfcClientFinal);
  ASSERT_TRUE(final_message.ok()) << final_message.status().ToString();
  EXPECT_EQ(final_message.value(), kRfcServerFinal);
}

TEST(ScramTest, FromPasswordMatchesKeysComputedElsewhere) {
  EXPECT_EQ(RfcVerifier().ToString(), kRfcVerifier);
}

// Derives the keys' defining equations from the RFC exchange itself:
// SHA256(ClientProof XOR HMAC(StoredKey, AuthMessage)) == StoredKey, and
// HMAC(ServerKey, AuthMessage) == ServerSignature.
TEST(ScramTest, FromPasswordKeysSatisfyRfcExchange) {
  ScramVerifier v = RfcVerifier();
  std::string client_final_without_proof =
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  std::string auth_message = std::string(kRfcClientFirst).substr(3) + "," + kRfcServerFirst + "," +
                             client_final_without_proof;
  std::string proof = B64Decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  std::string client_key = Xor(proof, Hmac(KeyBytes(v.stored_key), auth_message));
  EXPECT_EQ(Sha256(client_key), KeyBytes(v.stored_key));
  EXPECT_EQ("v=" + B64Encode(Hmac(KeyBytes(v.server_key), auth_message)), kRfcServerFinal);
}

TEST(ScramTest, ParseToStringRoundTrip) {
  Result<ScramVerifier> parsed = ScramVerifier::Parse(kRfcVerifier);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ScramVerifier expected = RfcVerifier();
  EXPECT_EQ(parsed->iterations, 4096);
  EXPECT_EQ(parsed->salt, expected.salt);
  EXPECT_EQ(parsed->stored_key, expected.stored_key);
  EXPECT_EQ(parsed->server_key, expected.server_key);
  EXPECT_EQ(parsed->ToString(), kRfcVerifier);

  ScramVerifier random_salt = ScramVerifier::FromPassword("x");
  EXPECT_EQ(random_salt.salt.size(), 16u);
  EXPECT_NE(random_salt.salt, ScramVerifier::FromPassword("x").salt);
  Result<ScramVerifier> again = ScramVerifier::Parse(random_salt.ToString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToString(), random_salt.ToString());
}

TEST(ScramTest, ParseRejectsMalformedVerifiers) {
  const std::string keys =
      "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  const std::vector<std::string> bad = {
      "",
      "md5c4ca4238a0b923820dcc509a6f75849b",
      "SCRAM-SHA-256$",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",
      "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$" + keys,
      "SCRAM-SHA-256$abc:W22ZaJ0SNY7soEsUEjb6gQ==$" + keys,
      "SCRAM-SHA-256$4096:$" + keys,
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$" + keys,
      "SCRAM-SHA-256$4096:W22Z!J0SNY7soEsUEjb6gQ==$" + keys,
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm:wfPLwcE6",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + keys + "$extra",
  };
  for (const std::string& text : bad) {
    Result<ScramVerifier> r = ScramVerifier::Parse(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().sqlstate(), "22023") << text;
  }
}

TEST(ScramTest, RoundTripWithTestClient) {
  TestClient client("correct horse", "fyko+d2lbbFgONRv9qkxdawL");
  ScramServer server(ScramVerifier::FromPassword("correct horse"), "alice");
  Result<std::string> first = server.HandleClientFirst(client.ClientFirst());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->starts_with("r=fyko+d2lbbFgONRv9qkxdawL"));
  EXPECT_GT(first->find(",s="), std::string("r=fyko+d2lbbFgONRv9qkxdawL").size());
  Result<std::string> final_message = server.HandleClientFinal(client.ClientFinal(*first));
  ASSERT_TRUE(final_message.ok()) << final_message.status().ToString();
  EXPECT_EQ(final_message.value(), client.expected_server_final());
}

TEST(ScramTest, AcceptsClientThatSupportsButDoesNotUseChannelBinding) {
  ScramServer server(RfcVerifier(), "user", kRfcServerNonce);
  ASSERT_TRUE(server.HandleClientFirst("y,,n=,r=abc").ok());
  Result<std::string> final_message =
      server.HandleClientFinal("c=eSws,r=abc" + std::string(kRfcServerNonce) +
                               ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  // The binding is accepted; the proof (made for another AuthMessage) is not.
  ASSERT_FALSE(final_message.ok());
  EXPECT_EQ(final_message.status().sqlstate(), "28P01");
}

TEST(ScramTest, WrongPasswordIsRejected) {
  TestClient client("wrong", "clientnonce");
  std::string server_first;
  ScramServer server = StartedServer(client, &server_first);
  Result<std::string> final_message = server.HandleClientFinal(client.ClientFinal(server_first));
  ASSERT_FALSE(final_message.ok());
  EXPECT_EQ(final_message.status().sqlstate(), "28P01");
  EXPECT_EQ(final_message.status().message(), "password authentication failed for user \"alice\"");
}

TEST(ScramTest, RejectsChannelBinding) {
  ScramServer server(RfcVerifier());
  Result<std::string> r = server.HandleClientFirst("p=tls-server-end-point,,n=,r=abc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().sqlstate(), "08P01");
  EXPECT_NE(r.status().message().find("channel binding is not supported"), std::string::npos);
}

TEST(ScramTest, RejectsMalformedClientFirst) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "08P01"},
      {"n", "08P01"},
      {"n,", "08P01"},
      {"n,,", "08P01"},
      {"x,,n=,r=abc", "08P01"},
      {"n,,r=abc", "08P01"},
      {"n,,n=", "08P01"},
      {"n,,n=,r=", "08P01"},
      {"n,,n=,r=a b", "08P01"},
      {"n,,n=,r=abc,", "08P01"},
      {"n,,n=,r=abc,1=x", "08P01"},
      {"n,a=admin,n=,r=abc", "0A000"},
      {"n,,m=ext,n=,r=abc", "0A000"},
  };
  for (const auto& [message, sqlstate] : cases) {
    ScramServer server(RfcVerifier());
    Result<std::string> r = server.HandleClientFirst(message);
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(r.status().sqlstate(), sqlstate) << message;
  }
}

TEST(ScramTest, RejectsMalformedClientFinal) {
  TestClient client("secret", "clientnonce");
  std::string nonce = "clientnonce" + std::string(kRfcServerNonce);
  std::string good_proof = ",p=" + std::string(43, 'A') + "=";
  const std::vector<std::string> cases = {
      "",
      "c=biws,r=" + nonce,                     // no proof
      "c=biws,r=" + nonce + ",p=!!!!",         // bad base64
      "c=biws,r=" + nonce + ",p=AAAA",         // proof too short
      "c=biws,r=" + nonce + "X" + good_proof,  // nonce mismatch
      "c=biws,r=clientnonce" + good_proof,     // server nonce dropped
      "c=eSws,r=" + nonce + good_proof,        // binding differs from first
      "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=" + nonce + good_proof,
      "r=" + nonce + good_proof,                 // no binding
      "c=biws" + good_proof,                     // no nonce
      "c=biws,r=" + nonce + ",??" + good_proof,  // bad extension
  };
  for (const std::string& message : cases) {
    ScramServer server(ScramVerifier::FromPassword("secret", "salt", 16), "", kRfcServerNonce);
    ASSERT_TRUE(server.HandleClientFirst(client.ClientFirst()).ok());
    Result<std::string> r = server.HandleClientFinal(message);
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(r.status().sqlstate(), "08P01") << message;
  }
}

TEST(ScramTest, RejectsMessagesOutOfOrder) {
  ScramServer server(RfcVerifier());
  Result<std::string> early = server.HandleClientFinal(kRfcClientFinal);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().sqlstate(), "08P01");
  // An error ends the exchange.
  EXPECT_FALSE(server.HandleClientFirst(kRfcClientFirst).ok());

  ScramServer twice(RfcVerifier(), "user", kRfcServerNonce);
  ASSERT_TRUE(twice.HandleClientFirst(kRfcClientFirst).ok());
  EXPECT_FALSE(twice.HandleClientFirst(kRfcClientFirst).ok());
  EXPECT_FALSE(twice.HandleClientFinal(kRfcClientFinal).ok());
}

// Every prefix of a valid message, and the message with any one byte changed, is handled
// without crashing; only the intact message succeeds.
TEST(ScramTest, TruncatedAndCorruptedMessagesNeverCrash) {
  std::string final_message = kRfcClientFinal;
  for (size_t len = 0; len < final_message.size(); ++len) {
    ScramServer server(RfcVerifier(), "user", kRfcServerNonce);
    ASSERT_TRUE(server.HandleClientFirst(kRfcClientFirst).ok());
    EXPECT_FALSE(server.HandleClientFinal(final_message.substr(0, len)).ok()) << len;
  }
  std::string first_message = kRfcClientFirst;
  for (size_t i = 0; i < first_message.size(); ++i) {
    std::string corrupted = first_message;
    if (corrupted[i] == ',') continue;
    corrupted[i] = ',';
    ScramServer server(RfcVerifier(), "user", kRfcServerNonce);
    Result<std::string> first = server.HandleClientFirst(corrupted);
    if (first.ok()) {
      EXPECT_FALSE(server.HandleClientFinal(final_message).ok()) << corrupted;
    }
  }
}

}  // namespace
}  // namespace mosaic::frontend
