// SCRAM-SHA-256 authentication, server side (RFC 5802, RFC 7677), as PostgreSQL speaks it in
// AuthenticationSASL / SASLInitialResponse / SASLResponse exchanges.
//
// This file holds only the message logic: it never does I/O, never blocks and never throws.
// The session wraps the returned strings in AuthenticationSASLContinue / AuthenticationSASLFinal
// and turns an error Status into an ErrorResponse.
//
// Limits, matching what PostgreSQL accepts for the plain "SCRAM-SHA-256" mechanism:
// - Channel binding is not supported: a gs2 header "p=..." is rejected; "n,," and "y,," are
//   accepted. An authorization identity ("a=...") is rejected.
// - The user name in client-first-message is ignored (PostgreSQL clients send it empty); the
//   session authenticates the user named in the StartupMessage.
// - Passwords are used as raw bytes, without SASLprep normalisation. PostgreSQL applies SASLprep
//   and falls back to the raw bytes when that fails, so the two agree for every ASCII password
//   (and for any password that SASLprep leaves unchanged). A verifier made by PostgreSQL from a
//   non-ASCII password that SASLprep changes will not match one made here from the same text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mosaic::frontend {

// What is stored per user instead of the password. A plain value; copyable.
struct ScramVerifier {
  int iterations = 4096;
  std::string salt;  // raw bytes
  std::array<uint8_t, 32> stored_key{};
  std::array<uint8_t, 32> server_key{};

  // Derives the verifier of `password` (raw bytes, see the file comment).
  // An empty `salt_raw` means 16 fresh random bytes.
  // REQUIRES: iterations >= 1. Aborts the process if the system CSPRNG fails.
  static ScramVerifier FromPassword(std::string_view password, std::string_view salt_raw = "",
                                    int iterations = 4096);

  // Parses PostgreSQL's text form (pg_authid.rolpassword):
  //   "SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>"
  // Returns SQLSTATE 22023 if the text is not of that form.
  static Result<ScramVerifier> Parse(std::string_view text);

  // The same text form; Parse(v.ToString()) gives back v.
  std::string ToString() const;
};

// One authentication exchange. Not thread-safe: used by the one session that owns it.
//
// Call HandleClientFirst once, then HandleClientFinal once. Any error ends the exchange: later
// calls return 08P01. For a user that does not exist, callers should still run the exchange
// against a made-up verifier and fail at the final step, so that the reply does not reveal which
// user names exist (PostgreSQL does the same).
class ScramServer {
 public:
  // `user_name` (from the StartupMessage) is used only in the error message of a failed proof.
  explicit ScramServer(ScramVerifier verifier, std::string user_name = {});

  // For tests: uses `server_nonce` instead of 18 random bytes, so the exchange is reproducible.
  // REQUIRES: server_nonce is non-empty printable ASCII without ','.
  ScramServer(ScramVerifier verifier, std::string user_name, std::string server_nonce);

  // Consumes client-first-message (the SASLInitialResponse data) and returns
  // server-first-message "r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>".
  // Errors: 08P01 on malformed input or channel binding requested ("p=..."); 0A000 for an
  // authorization identity or a mandatory extension; XX000 if no random nonce can be made.
  Result<std::string> HandleClientFirst(std::string_view client_first_message);

  // Consumes client-final-message "c=<binding>,r=<nonce>,p=<proof>" and returns
  // server-final-message "v=<base64 ServerSignature>".
  // Errors: 08P01 on malformed input, a nonce or binding mismatch, or a call out of order;
  // 28P01 "password authentication failed for user \"<user_name>\"" when the proof is wrong.
  Result<std::string> HandleClientFinal(std::string_view client_final_message);

 private:
  enum class State { kWaitClientFirst, kWaitClientFinal, kDone };

  // Validates client-first-message, keeps what the AuthMessage needs, returns the client nonce
  // (a view into client_first_bare_).
  Status ParseClientFirst(std::string_view message, std::string_view* client_nonce);
  Status CheckChannelBinding(std::string_view encoded) const;
  Status CheckProof(std::string_view auth_message, std::string_view proof) const;

  ScramVerifier verifier_;
  std::string user_name_;
  std::string server_nonce_;  // empty until HandleClientFirst unless injected
  State state_ = State::kWaitClientFirst;
  std::string gs2_header_;         // "n,," or "y,,"
  std::string client_first_bare_;  // client-first-message without the gs2 header
  std::string server_first_;
  std::string combined_nonce_;
};

}  // namespace mosaic::frontend
