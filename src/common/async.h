// Asio in one place: the headers Mosaic uses and `use_tuple`, the completion token that makes a
// co_await return (error_code, result...) instead of throwing. The data path never throws.
#pragma once

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

namespace mosaic {
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
}  // namespace mosaic
