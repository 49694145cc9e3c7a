/* test_sigv4.c - the SigV4 signer against AWS's published values: the signature test suite
 * (awslabs/aws-c-auth tests/aws-signing-test-suite/v4: get-vanilla and its relatives, service
 * "service", 2015-08-30T12:36:00Z) and the four S3 examples of the S3 API reference
 * ("Signature Calculations for the Authorization Header": GET object with a range, PUT object,
 * GET bucket lifecycle, list objects; 2013-05-24). Each compares the whole signature, and the
 * canonical request or string to sign where AWS publishes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sigv4.h"
#include "util.h"

#define AKID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define S3_AKID "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"
#define S3_HOST "examplebucket.s3.amazonaws.com"

/* a request of the suite: host and date are added */
static void suite(const char *method, const char *path, const struct sigv4_param *q, size_t nq,
                  const struct sigv4_hdr *extra, size_t nextra, const char *payload_hash,
                  const char *want_sig, const char *want_canonical)
{
    struct sigv4_hdr h[8] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE}};
    assert_true(nextra <= 6);
    for (size_t i = 0; i < nextra; i++)
        h[2 + i] = extra[i];
    struct sigv4_in in = {.method = method,
                          .path = path,
                          .query = q,
                          .nquery = nq,
                          .hdrs = h,
                          .nhdrs = 2 + nextra,
                          .payload_sha256 = payload_hash ? payload_hash : SIGV4_EMPTY_SHA256,
                          .access_key = AKID,
                          .secret = SUITE_SECRET,
                          .region = "us-east-1",
                          .service = "service",
                          .amz_date = SUITE_DATE};
    struct sigv4_out out;
    assert_int_equal(sigv4_sign(&in, &out), 0);
    if (want_canonical)
        assert_string_equal(out.canonical, want_canonical);
    assert_string_equal(out.signature, want_sig);
    char *auth = dv_asprintf("AWS4-HMAC-SHA256 Credential=" AKID "/20150830/us-east-1/service/"
                             "aws4_request, SignedHeaders=%s, Signature=%s",
                             out.signed_headers, want_sig);
    assert_string_equal(out.authorization, auth);
    free(auth);
    sigv4_out_free(&out);
}

static void test_get_vanilla(void **state)
{
    suite("GET", "/", NULL, 0, NULL, 0, NULL,
          "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_query_order_key_case(void **state)
{
    struct sigv4_param q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
    suite("GET", "/", q, 2, NULL, 0, NULL,
          "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
          "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
          "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" SIGV4_EMPTY_SHA256);
}

static void test_query_unreserved(void **state)
{
    const char *u = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    struct sigv4_param q[] = {{u, u}};
    suite("GET", "/", q, 1, NULL, 0, NULL,
          "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197", NULL);
}

static void test_utf8(void **state)
{
    struct sigv4_param q[] = {{"\xe1\x88\xb4", "bar"}};
    suite("GET", "/", q, 1, NULL, 0, NULL,
          "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
          "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
          "host;x-amz-date\n" SIGV4_EMPTY_SHA256);
    suite("GET", "/\xe1\x88\xb4", NULL, 0, NULL, 0, NULL,
          "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85", NULL);
    suite("GET", "/example space/", NULL, 0, NULL, 0, NULL,
          "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741", NULL);
}

static void test_header_trim_and_order(void **state)
{
    struct sigv4_hdr trim[] = {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}};
    suite("GET", "/", NULL, 0, trim, 2, NULL,
          "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
          "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
          "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-"
          "date\n" SIGV4_EMPTY_SHA256);
    struct sigv4_hdr order[] = {{"My-Header1", "value4"},
                                {"My-Header1", "value1"},
                                {"My-Header1", "value3"},
                                {"My-Header1", "value2"}};
    suite("GET", "/", NULL, 0, order, 4, NULL,
          "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01", NULL);
    struct sigv4_hdr sort[] = {{"My-Header1", "value1"}};
    suite("POST", "/", NULL, 0, sort, 1, NULL,
          "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c", NULL);
}

static void test_post(void **state)
{
    struct sigv4_param q[] = {{"Param1", "value1"}};
    suite("POST", "/", q, 1, NULL, 0, NULL,
          "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11", NULL);
    char body[65];
    dv_sha256_hex("Param1=value1", 13, body);
    assert_string_equal(body, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    struct sigv4_hdr form[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                               {"Content-Length", "13"},
                               {"x-amz-content-sha256", body}};
    suite("POST", "/", NULL, 0, form, 3, body,
          "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b", NULL);
}

/* an S3 example: host, x-amz-content-sha256 and x-amz-date first, then extra */
static void s3(const char *method, const char *path, const struct sigv4_param *q, size_t nq,
               const struct sigv4_hdr *extra, size_t nextra, const char *payload_hash,
               const char *want_sig, const char *want_sts_hash)
{
    struct sigv4_hdr h[8] = {
        {"Host", S3_HOST}, {"x-amz-content-sha256", payload_hash}, {"x-amz-date", S3_DATE}};
    for (size_t i = 0; i < nextra; i++)
        h[3 + i] = extra[i];
    struct sigv4_in in = {.method = method,
                          .path = path,
                          .query = q,
                          .nquery = nq,
                          .hdrs = h,
                          .nhdrs = 3 + nextra,
                          .payload_sha256 = payload_hash,
                          .access_key = S3_AKID,
                          .secret = S3_SECRET,
                          .region = "us-east-1",
                          .service = "s3",
                          .amz_date = S3_DATE};
    struct sigv4_out out;
    assert_int_equal(sigv4_sign(&in, &out), 0);
    if (want_sts_hash) {
        char *sts = dv_asprintf("AWS4-HMAC-SHA256\n" S3_DATE "\n20130524/us-east-1/s3/"
                                "aws4_request\n%s",
                                want_sts_hash);
        assert_string_equal(out.string_to_sign, sts);
        free(sts);
    }
    assert_string_equal(out.signature, want_sig);
    sigv4_out_free(&out);
}

static void test_s3_examples(void **state)
{
    struct sigv4_hdr range[] = {{"Range", "bytes=0-9"}};
    s3("GET", "/test.txt", NULL, 0, range, 1, SIGV4_EMPTY_SHA256,
       "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
       "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");

    char body[65];
    dv_sha256_hex("Welcome to Amazon S3.", 21, body);
    assert_string_equal(body, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    struct sigv4_hdr put[] = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                              {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    s3("PUT", "/test$file.text", NULL, 0, put, 2, body,
       "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
       "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");

    struct sigv4_param lc[] = {{"lifecycle", ""}};
    s3("GET", "/", lc, 1, NULL, 0, SIGV4_EMPTY_SHA256,
       "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
       "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");

    struct sigv4_param list[] = {{"prefix", "J"}, {"max-keys", "2"}};
    s3("GET", "/", list, 2, NULL, 0, SIGV4_EMPTY_SHA256,
       "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", NULL);
}

static void test_encoding(void **state)
{
    char *e = sigv4_encode("a b+c/d$~%", 10, true);
    assert_string_equal(e, "a%20b%2Bc/d%24~%25");
    free(e);
    e = sigv4_encode("dir/key", 7, false);
    assert_string_equal(e, "dir%2Fkey");
    free(e);
    struct sigv4_param q[] = {{"prefix", "a/b c"}, {"list-type", "2"}, {"a", "2"}, {"a", "1"}};
    e = sigv4_query(q, 4);
    assert_string_equal(e, "a=1&a=2&list-type=2&prefix=a%2Fb%20c");
    free(e);
    e = sigv4_query(NULL, 0);
    assert_string_equal(e, "");
    free(e);
    char d[17];
    sigv4_amz_date(1440938160, d);
    assert_string_equal(d, SUITE_DATE);
}

static void test_refusals(void **state)
{
    struct sigv4_hdr h[] = {{"Host", "x"}, {"Bad Name", "v"}};
    struct sigv4_in in = {.method = "GET",
                          .path = "/",
                          .hdrs = h,
                          .nhdrs = 2,
                          .payload_sha256 = SIGV4_EMPTY_SHA256,
                          .access_key = "a",
                          .secret = "s",
                          .region = "r",
                          .service = "s3",
                          .amz_date = SUITE_DATE};
    struct sigv4_out out;
    assert_int_equal(sigv4_sign(&in, &out), -1);
    assert_non_null(strstr(dv_err(), "Bad Name"));
    h[1] = (struct sigv4_hdr){"X-Split", "a\r\nInjected: 1"};
    assert_int_equal(sigv4_sign(&in, &out), -1);
    assert_non_null(strstr(dv_err(), "line break"));
    in.nhdrs = 1;
    in.payload_sha256 = "UNSIGNED-PAYLOAD";
    assert_int_equal(sigv4_sign(&in, &out), -1);
    in.payload_sha256 = SIGV4_EMPTY_SHA256;
    in.amz_date = "2015-08-30";
    assert_int_equal(sigv4_sign(&in, &out), -1);
    in.amz_date = SUITE_DATE;
    in.path = "relative";
    assert_int_equal(sigv4_sign(&in, &out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_vanilla),
        cmocka_unit_test(test_query_order_key_case),
        cmocka_unit_test(test_query_unreserved),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_header_trim_and_order),
        cmocka_unit_test(test_post),
        cmocka_unit_test(test_s3_examples),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
