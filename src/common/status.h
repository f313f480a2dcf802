// Status and Result<T>: how errors cross module boundaries in Mosaic.
//
// A Status is either OK or carries a PostgreSQL SQLSTATE and a message, so an error raised
// anywhere can reach the client as an ErrorResponse unchanged. Exceptions are used only at the
// edges (config parsing, startup) and never on the data path.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mosaic {

// A few SQLSTATE codes Mosaic raises itself (see PostgreSQL's errcodes.txt).
namespace sqlstate {
inline constexpr std::string_view kSuccess = "00000";
inline constexpr std::string_view kConnectionException = "08000";
inline constexpr std::string_view kConnectionFailure = "08006";
inline constexpr std::string_view kTransactionResolutionUnknown = "08007";
inline constexpr std::string_view kProtocolViolation = "08P01";
inline constexpr std::string_view kFeatureNotSupported = "0A000";
inline constexpr std::string_view kInvalidParameterValue = "22023";
inline constexpr std::string_view kInvalidAuthorization = "28000";
inline constexpr std::string_view kInvalidPassword = "28P01";
inline constexpr std::string_view kSyntaxError = "42601";
inline constexpr std::string_view kUndefinedObject = "42704";
inline constexpr std::string_view kUndefinedDatabase = "3D000";
inline constexpr std::string_view kInvalidSqlStatementName = "26000";
inline constexpr std::string_view kInvalidCursorName = "34000";
inline constexpr std::string_view kDuplicateCursor = "42P03";
inline constexpr std::string_view kDuplicatePreparedStatement = "42P05";
inline constexpr std::string_view kTooManyConnections = "53300";
inline constexpr std::string_view kProgramLimitExceeded = "54000";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kDeadlockDetected = "40P01";
inline constexpr std::string_view kObjectNotInPrerequisiteState = "55000";
inline constexpr std::string_view kObjectInUse = "55006";
inline constexpr std::string_view kInFailedSqlTransaction = "25P02";
inline constexpr std::string_view kNoActiveSqlTransaction = "25P01";
inline constexpr std::string_view kAdminShutdown = "57P01";
inline constexpr std::string_view kCannotConnectNow = "57P03";
inline constexpr std::string_view kInternalError = "XX000";
inline constexpr std::string_view kConfigFileError = "F0000";
}  // namespace sqlstate

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(std::string_view sqlstate, std::string message)
      : code_(sqlstate), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status Error(std::string_view sqlstate, std::string message) {
    return Status(sqlstate, std::move(message));
  }
  static Status Internal(std::string message) {
    return Status(sqlstate::kInternalError, std::move(message));
  }
  static Status Unsupported(std::string message) {
    return Status(sqlstate::kFeatureNotSupported, std::move(message));
  }
  // A client's cancel request ended the statement: 57014 with PostgreSQL's text, and where it
  // was waiting when Mosaic ended it itself ("it was waiting for a connection").
  static Status Canceled(std::string_view waiting = {}) {
    std::string message = "canceling statement due to user request";
    if (!waiting.empty()) message.append(" (").append(waiting).append(")");
    return Status(sqlstate::kQueryCanceled, std::move(message));
  }

  bool ok() const { return code_.empty(); }
  // REQUIRES: !ok(). Five-character SQLSTATE.
  const std::string& sqlstate() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const { return ok() ? "OK" : code_ + ": " + message_; }

 private:
  std::string code_;  // empty means OK
  std::string message_;
};

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}    // NOLINT: REQUIRES !status.ok()

  bool ok() const { return v_.index() == 0; }
  // REQUIRES: ok()
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  // REQUIRES: !ok()
  const Status& status() const { return std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mosaic
