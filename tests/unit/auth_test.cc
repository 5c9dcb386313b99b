// Unit tests of the Authenticator (core/auth.h): open mode (only until the first key: revoking
// every key never reopens it), the OpenAI 401 texts for a missing, empty, wrong or revoked key
// (message, null param, code invalid_api_key), projects of good keys, key creation and Mask().
#include "core/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "common/crypto.h"
#include "unit/faulty_stores.h"

namespace fileport {
namespace {

constexpr char kNoKey[] =
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";

// A wrong key: Unauthenticated, null param, code invalid_api_key.
MATCHER_P(IsIncorrectKey, masked, "") {
  const Status& s = StatusOf(arg);
  *result_listener << "which is " << s.ToString();
  return s.code() == StatusCode::kUnauthenticated &&
         s.message() == "Incorrect API key provided: " + std::string(masked) + "." &&
         s.param().empty() && s.error_code() == "invalid_api_key";
}

MATCHER(IsNoKey, "") {
  const Status& s = StatusOf(arg);
  *result_listener << "which is " << s.ToString();
  return s.code() == StatusCode::kUnauthenticated && s.message() == kNoKey && s.param().empty() &&
         s.error_code().empty();
}

class AuthTest : public ::testing::Test {
 protected:
  FakeClock clock;
  IdGenerator ids{clock};
  MemoryMetadataStore meta;
  Authenticator auth{meta, clock, ids};

  std::string Bearer(const std::string& secret) { return "Bearer " + secret; }
  NewApiKey MakeKey(const std::string& project) {
    auto k = auth.CreateKey(project);
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? *k : NewApiKey{};
  }
};

TEST_F(AuthTest, OpenModeWithoutKeysIsTheDefaultProject) {
  auto open = auth.IsOpen();
  FP_ASSERT_OK(open);
  EXPECT_TRUE(*open);
  for (std::optional<std::string_view> h :
       {std::optional<std::string_view>(), std::optional<std::string_view>("Bearer whatever"),
        std::optional<std::string_view>(""), std::optional<std::string_view>("Basic eDp5")}) {
    auto p = auth.Authenticate(h);
    FP_ASSERT_OK(p);
    EXPECT_EQ(*p, "default");
  }
}

TEST_F(AuthTest, GoodKeyAuthenticatesAsItsProject) {
  NewApiKey a = MakeKey("team-a");
  NewApiKey b = MakeKey("team_b.2");
  auto open = auth.IsOpen();
  FP_ASSERT_OK(open);
  EXPECT_FALSE(*open);
  auto pa = auth.Authenticate(Bearer(a.secret));
  FP_ASSERT_OK(pa);
  EXPECT_EQ(*pa, "team-a");
  auto pb = auth.Authenticate(Bearer(b.secret));
  FP_ASSERT_OK(pb);
  EXPECT_EQ(*pb, "team_b.2");
  // Surrounding spaces and a lowercase scheme are tolerated.
  auto spaced = auth.Authenticate("  Bearer   " + a.secret + "  ");
  FP_ASSERT_OK(spaced);
  EXPECT_EQ(*spaced, "team-a");
  auto lower = auth.Authenticate("bearer " + a.secret);
  FP_ASSERT_OK(lower);
  EXPECT_EQ(*lower, "team-a");
}

TEST_F(AuthTest, MissingHeaderIsNoKey) {
  MakeKey("p");
  EXPECT_THAT(auth.Authenticate(std::nullopt), IsNoKey());
}

TEST_F(AuthTest, BearerWithEmptyKeyIsNoKey) {
  MakeKey("p");
  EXPECT_THAT(auth.Authenticate("Bearer "), IsNoKey());
  EXPECT_THAT(auth.Authenticate("Bearer     "), IsNoKey());
  EXPECT_THAT(auth.Authenticate("Bearer"), IsNoKey());
  EXPECT_THAT(auth.Authenticate(""), IsNoKey());
}

TEST_F(AuthTest, OtherSchemesAreNoKey) {
  MakeKey("p");
  EXPECT_THAT(auth.Authenticate("Basic dXNlcjpwYXNz"), IsNoKey());
  EXPECT_THAT(auth.Authenticate("Token sk-abcdefxyz"), IsNoKey());
}

TEST_F(AuthTest, WrongKeyIsIncorrectWithTheMaskedKey) {
  MakeKey("p");
  EXPECT_THAT(auth.Authenticate("Bearer sk-abcdefghxyz"), IsIncorrectKey("sk-ab***yz"));
  EXPECT_THAT(auth.Authenticate("Bearer sk-ab12"), IsIncorrectKey("***"));  // 7 chars
  EXPECT_THAT(auth.Authenticate("Bearer x"), IsIncorrectKey("***"));
}

TEST_F(AuthTest, RevokedKeyIsIncorrectWhileOthersStillWork) {
  NewApiKey keep = MakeKey("p");
  NewApiKey gone = MakeKey("q");
  clock.AdvanceSeconds(42);
  FP_ASSERT_OK(auth.RevokeKey(gone.key.id));
  EXPECT_THAT(auth.Authenticate(Bearer(gone.secret)),
              IsIncorrectKey(Authenticator::Mask(gone.secret)));
  auto p = auth.Authenticate(Bearer(keep.secret));
  FP_ASSERT_OK(p);
  EXPECT_EQ(*p, "p");
  auto keys = auth.ListKeys();
  FP_ASSERT_OK(keys);
  ASSERT_EQ(keys->size(), 2u);
  for (const ApiKey& k : *keys) {
    if (k.id == gone.key.id) {
      EXPECT_EQ(k.revoked_at, clock.NowSeconds());
    } else {
      EXPECT_EQ(k.revoked_at, std::nullopt);
    }
  }
  // Revoking again keeps the first time; an unknown id is NotFound.
  clock.AdvanceSeconds(5);
  FP_ASSERT_OK(auth.RevokeKey(gone.key.id));
  EXPECT_THAT(auth.RevokeKey("key_nope"),
              StatusIs(StatusCode::kNotFound, "No such API key: key_nope", "id"));
}

// Revoking the last key must not silently open the service to everyone: once a key has been
// created, requests need a valid one for good.
TEST_F(AuthTest, RevokingEveryKeyLeavesTheServiceKeyed) {
  NewApiKey a = MakeKey("p");
  NewApiKey b = MakeKey("q");
  FP_ASSERT_OK(auth.RevokeKey(a.key.id));
  FP_ASSERT_OK(auth.RevokeKey(b.key.id));
  auto open = auth.IsOpen();
  FP_ASSERT_OK(open);
  EXPECT_FALSE(*open);
  EXPECT_THAT(auth.Authenticate(std::nullopt), IsNoKey());
  EXPECT_THAT(auth.Authenticate(""), IsNoKey());
  EXPECT_THAT(auth.Authenticate(Bearer(a.secret)), IsIncorrectKey(Authenticator::Mask(a.secret)));
  EXPECT_THAT(auth.Authenticate(Bearer(b.secret)), IsIncorrectKey(Authenticator::Mask(b.secret)));
  EXPECT_THAT(auth.Authenticate("Bearer sk-abcdefghxyz"), IsIncorrectKey("sk-ab***yz"));
  // A new key works; the revoked ones stay refused.
  NewApiKey c = MakeKey("r");
  auto p = auth.Authenticate(Bearer(c.secret));
  FP_ASSERT_OK(p);
  EXPECT_EQ(*p, "r");
  EXPECT_THAT(auth.Authenticate(Bearer(a.secret)), IsIncorrectKey(Authenticator::Mask(a.secret)));
}

TEST_F(AuthTest, CreateKeyStoresOnlyTheHashAndAHint) {
  clock.AdvanceSeconds(7);
  NewApiKey k = MakeKey("proj");
  EXPECT_TRUE(k.secret.starts_with("sk-fp-")) << k.secret;
  EXPECT_EQ(k.secret.size(), 6u + 40u);
  EXPECT_TRUE(IsWellFormedId(k.key.id, kKeyIdPrefix)) << k.key.id;
  EXPECT_EQ(k.key.project, "proj");
  EXPECT_EQ(k.key.created_at, clock.NowSeconds());
  EXPECT_EQ(k.key.secret_sha256_hex, Sha256Hex(k.secret));
  EXPECT_EQ(k.key.hint, Authenticator::Mask(k.secret));
  auto keys = auth.ListKeys();
  FP_ASSERT_OK(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0], k.key);
  EXPECT_EQ((*keys)[0].hint.find(k.secret.substr(6)), std::string::npos);
  EXPECT_NE(MakeKey("proj").secret, k.secret);
}

TEST_F(AuthTest, CreateKeyRefusesBadProjectNames) {
  const auto bad_len =
      StatusIs(StatusCode::kInvalidArgument, "project must be 1 to 64 characters", "project");
  const auto bad_char =
      StatusIs(StatusCode::kInvalidArgument,
               "project may only contain letters, digits, '-', '_' and '.'", "project");
  EXPECT_THAT(auth.CreateKey(""), bad_len);
  EXPECT_THAT(auth.CreateKey(std::string(65, 'a')), bad_len);
  FP_EXPECT_OK(auth.CreateKey(std::string(64, 'a')));
  for (const char* p : {"a/b", "a b", "../x", "caf\xc3\xa9", "a\nb"}) {
    EXPECT_THAT(auth.CreateKey(p), bad_char) << p;
  }
}

TEST_F(AuthTest, StoreErrorsAreNotTurnedIntoAuthAnswers) {
  // A store outage must surface as itself, never as "open" or as a wrong key.
  FaultInjector faults;
  FaultyMetadataStore faulty(meta, faults);
  Authenticator a(faulty, clock, ids);
  NewApiKey k = MakeKey("p");
  for (int n = 1; n <= 2; ++n) {
    faults.FailNth(n, UnavailableFault());
    EXPECT_THAT(a.Authenticate(Bearer(k.secret)), SameErrorAs(UnavailableFault())) << n;
  }
  faults.Disable();
  FP_EXPECT_OK(a.Authenticate(Bearer(k.secret)));
}

// "Open" is asked of the store on every request: a key created elsewhere (a `fileport keys
// create` next to the server, another node) closes the service at its next request.
TEST_F(AuthTest, AKeyCreatedElsewhereClosesTheServiceAtTheNextRequest) {
  auto before = auth.Authenticate(std::nullopt);
  FP_ASSERT_OK(before);
  EXPECT_EQ(*before, "default");
  Authenticator elsewhere(meta, clock, ids);
  auto k = elsewhere.CreateKey("p");
  FP_ASSERT_OK(k);
  EXPECT_THAT(auth.Authenticate(std::nullopt), IsNoKey());
  auto p = auth.Authenticate(Bearer(k->secret));
  FP_ASSERT_OK(p);
  EXPECT_EQ(*p, "p");
}

// "Closed" is for good (keys are never deleted), so once a key has been seen the store is no
// longer asked whether any exists: only the caller's key is looked up.
TEST_F(AuthTest, OnceClosedTheStoreIsNotAskedAgainWhetherKeysExist) {
  FaultInjector faults;
  FaultyMetadataStore faulty(meta, faults);
  Authenticator a(faulty, clock, ids);
  NewApiKey k = MakeKey("p");
  auto first = a.Authenticate(Bearer(k.secret));
  FP_ASSERT_OK(first);
  faults.FailNth(1, UnavailableFault(), /*persistent=*/true, "meta.HasApiKeys");
  auto again = a.Authenticate(Bearer(k.secret));
  FP_ASSERT_OK(again);
  EXPECT_EQ(*again, "p");
  EXPECT_THAT(a.Authenticate(std::nullopt), IsNoKey());
  auto open = a.IsOpen();
  FP_ASSERT_OK(open);
  EXPECT_FALSE(*open);
  // A fresh authenticator, which has seen no key yet, must ask, and reports the outage.
  Authenticator fresh(faulty, clock, ids);
  EXPECT_THAT(fresh.Authenticate(Bearer(k.secret)), SameErrorAs(UnavailableFault()));
}

TEST(Mask, KeepsFiveLeadingAndTwoTrailingCharacters) {
  EXPECT_EQ(Authenticator::Mask("sk-abcdefxyz"), "sk-ab***yz");
  EXPECT_EQ(Authenticator::Mask("sk-abcdefghijklmnopqrstuvwxyz"), "sk-ab***yz");
  EXPECT_EQ(Authenticator::Mask("12345678"), "12345***78");
  EXPECT_EQ(Authenticator::Mask("1234567"), "***");
  EXPECT_EQ(Authenticator::Mask(""), "***");
}

// The digest comparison behind every key check (CRYPTO_memcmp: its time does not depend on
// where the first difference is; the digests are always 64 hex characters, so neither does
// the length).
TEST(ConstantTimeEquals, IsEqualityOfWholeStrings) {
  const std::string d = Sha256Hex("sk-fp-secret");
  EXPECT_TRUE(ConstantTimeEquals(d, Sha256Hex("sk-fp-secret")));
  for (std::size_t pos : {std::size_t{0}, d.size() / 2, d.size() - 1}) {
    std::string other = d;
    other[pos] = other[pos] == '0' ? '1' : '0';
    EXPECT_FALSE(ConstantTimeEquals(d, other)) << pos;
  }
  EXPECT_FALSE(ConstantTimeEquals(d, d.substr(0, 63)));
  EXPECT_FALSE(ConstantTimeEquals(d.substr(0, 63), d));
  EXPECT_FALSE(ConstantTimeEquals(d, ""));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace fileport
