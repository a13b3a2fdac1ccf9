#pragma once
// Errors carry a stable code and a human message; context is prepended as they propagate up the layers.
// Only the API boundary turns them into HTTP statuses and JSON.
#include <string>
#include <utility>
#include <variant>

namespace stagecast {

struct Error {
  std::string code;     // stable, machine readable, e.g. "SDP_MALFORMED"
  std::string message;  // for humans; never contains secrets

  Error() = default;
  Error(std::string c, std::string m) : code(std::move(c)), message(std::move(m)) {}

  [[nodiscard]] Error withContext(const std::string& context) const { return {code, context + ": " + message}; }
};

// Minimal expected-like result: holds a value or an Error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  [[nodiscard]] const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  [[nodiscard]] const Error& error() const { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace stagecast
