// PostgreSQL protocol v3 message type bytes and fixed codes (see PostgreSQL docs,
// "Message Formats"). Pure constants: no behaviour.
#pragma once

#include <cstdint>

namespace mosaic::protocol {

inline constexpr int32_t kProtocolVersion3 = 196608;  // 3.0
inline constexpr int32_t kSslRequestCode = 80877103;
inline constexpr int32_t kGssEncRequestCode = 80877104;
inline constexpr int32_t kCancelRequestCode = 80877102;

// Largest startup packet payload PostgreSQL accepts (MAX_STARTUP_PACKET_LENGTH), not counting
// the length word.
inline constexpr uint32_t kMaxStartupPacketLength = 10000;

// Messages sent by the client (frontend).
namespace fe {
inline constexpr char kBind = 'B';
inline constexpr char kClose = 'C';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kCopyFail = 'f';
inline constexpr char kDescribe = 'D';
inline constexpr char kExecute = 'E';
inline constexpr char kFlush = 'H';
inline constexpr char kFunctionCall = 'F';
inline constexpr char kParse = 'P';
inline constexpr char kPassword = 'p';  // also SASLInitialResponse / SASLResponse
inline constexpr char kQuery = 'Q';
inline constexpr char kSync = 'S';
inline constexpr char kTerminate = 'X';
}  // namespace fe

// Messages sent by the server (backend).
namespace be {
inline constexpr char kAuthentication = 'R';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kCopyBothResponse = 'W';
inline constexpr char kDataRow = 'D';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kFunctionCallResponse = 'V';
inline constexpr char kNegotiateProtocolVersion = 'v';
inline constexpr char kNoData = 'n';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kNotificationResponse = 'A';
inline constexpr char kParameterDescription = 't';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kParseComplete = '1';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kRowDescription = 'T';
}  // namespace be

// Authentication request codes carried in 'R' messages.
namespace auth {
inline constexpr int32_t kOk = 0;
inline constexpr int32_t kCleartextPassword = 3;
inline constexpr int32_t kMd5Password = 5;
inline constexpr int32_t kSasl = 10;
inline constexpr int32_t kSaslContinue = 11;
inline constexpr int32_t kSaslFinal = 12;
}  // namespace auth

// Transaction status in ReadyForQuery.
inline constexpr char kTxIdle = 'I';
inline constexpr char kTxInBlock = 'T';
inline constexpr char kTxFailed = 'E';

}  // namespace mosaic::protocol
