/* test_s3xml.c - the strict XML parser for S3 answers: the shapes RGW and AWS send (listings
 * of objects, versions and uploads, errors, multipart results), then hostile input: every
 * truncation of a real answer, DOCTYPE and entity bombs, unknown entities, bad UTF-8, deep
 * nesting, mismatched tags, text beside elements, trailing bytes, a listing that claims more
 * without a continuation, and size and element-count limits under a CPU and memory bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounded.h"
#include "s3xml.h"
#include "util.h"

/* as RGW answers a ListObjectsV2 (keys and markup copied from a real gateway's answer) */
static const char LIST[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>b</Name><Prefix>p/</Prefix><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
    "<Contents><Key>p/a&amp;b</Key><LastModified>2026-11-29T16:04:04.238Z</LastModified>"
    "<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>\n"
    "<Contents><Key>p/&#xe9;t&#233;</Key><LastModified>x</LastModified><ETag>\"e\"</ETag>"
    "<Size>18446744</Size></Contents>"
    "<KeyCount>2</KeyCount><NextContinuationToken>tok/1+=</NextContinuationToken>"
    "</ListBucketResult>";

static void test_list_objects(void **state)
{
    struct s3_listing l;
    assert_int_equal(s3xml_listing(LIST, strlen(LIST), S3_LIST_OBJECTS, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].key, "p/a&b");
    assert_int_equal(l.v[0].size, 1);
    assert_string_equal(l.v[0].etag, "0cc175b9c0f1b6a831c399e269772661");
    assert_string_equal(l.v[1].key, "p/\xc3\xa9t\xc3\xa9");
    assert_int_equal(l.v[1].size, 18446744);
    assert_string_equal(l.v[1].etag, "e");
    assert_true(l.truncated);
    assert_string_equal(l.next_token, "tok/1+=");
    s3_listing_free(&l);
    /* the wrong kind of listing */
    assert_int_equal(s3xml_listing(LIST, strlen(LIST), S3_LIST_VERSIONS, &l), -1);
    assert_non_null(strstr(dv_err(), "ListVersionsResult"));
}

static void test_list_versions_uploads(void **state)
{
    const char *v = "<ListVersionsResult><IsTruncated>false</IsTruncated>"
                    "<Version><Key>k</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest>"
                    "<Size>3</Size><ETag>\"x\"</ETag></Version>"
                    "<DeleteMarker><Key>k</Key><VersionId>v3</VersionId>"
                    "<IsLatest>true</IsLatest></DeleteMarker>"
                    "<Version><Key>k</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest>"
                    "<Size>0</Size></Version></ListVersionsResult>";
    struct s3_listing l;
    assert_int_equal(s3xml_listing(v, strlen(v), S3_LIST_VERSIONS, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].version_id, "v2");
    assert_false(l.v[0].delete_marker);
    assert_true(l.v[1].delete_marker);
    assert_true(l.v[1].is_latest);
    assert_string_equal(l.v[2].version_id, "v1");
    assert_false(l.truncated);
    s3_listing_free(&l);

    const char *u = "<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>true"
                    "</IsTruncated><NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2"
                    "</NextUploadIdMarker><Upload><Key>k1</Key><UploadId>u1</UploadId>"
                    "<Initiated>2026-11-29T16:00:00Z</Initiated></Upload>"
                    "</ListMultipartUploadsResult>";
    assert_int_equal(s3xml_listing(u, strlen(u), S3_LIST_UPLOADS, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].upload_id, "u1");
    assert_string_equal(l.next_key_marker, "k2");
    assert_string_equal(l.next_upload_marker, "u2");
    s3_listing_free(&l);
}

static void test_error_and_multipart(void **state)
{
    const char *e = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch"
                    "</Code><Message></Message><BucketName>b</BucketName><RequestId>tx1"
                    "</RequestId><HostId>h</HostId></Error>";
    char code[64], msg[64];
    assert_int_equal(s3xml_error(e, strlen(e), code, sizeof code, msg, sizeof msg), 0);
    assert_string_equal(code, "SignatureDoesNotMatch");
    assert_string_equal(msg, "");
    assert_int_equal(s3xml_error(LIST, strlen(LIST), code, sizeof code, msg, sizeof msg), -1);

    const char *i = "<InitiateMultipartUploadResult xmlns=\"x\"><Bucket>b</Bucket><Key>k</Key>"
                    "<UploadId>2~abc</UploadId></InitiateMultipartUploadResult>";
    char *id = s3xml_upload_id(i, strlen(i));
    assert_non_null(id);
    assert_string_equal(id, "2~abc");
    free(id);
    const char *c = "<CompleteMultipartUploadResult><Location>l</Location><Bucket>b</Bucket>"
                    "<Key>k</Key><ETag>&quot;abc-3&quot;</ETag></CompleteMultipartUploadResult>";
    char *etag = s3xml_complete_etag(c, strlen(c));
    assert_non_null(etag);
    assert_string_equal(etag, "abc-3");
    free(etag);
    /* S3 may answer a complete with 200 and an error document */
    const char *ce = "<Error><Code>InternalError</Code><Message>try again</Message></Error>";
    assert_null(s3xml_complete_etag(ce, strlen(ce)));
    assert_non_null(strstr(dv_err(), "InternalError"));
    /* RGW 16's answer to a complete: an empty ETag */
    const char *rgw = "<CompleteMultipartUploadResult><Location>127.0.0.1/b/k</Location>"
                      "<Bucket>b</Bucket><Key>k</Key><ETag></ETag></CompleteMultipartUploadResult>";
    etag = s3xml_complete_etag(rgw, strlen(rgw));
    assert_non_null(etag);
    assert_string_equal(etag, "");
    free(etag);
    const char *noetag = "<CompleteMultipartUploadResult></CompleteMultipartUploadResult>";
    assert_null(s3xml_complete_etag(noetag, strlen(noetag)));
    const char *empty = "<InitiateMultipartUploadResult><UploadId></UploadId>"
                        "</InitiateMultipartUploadResult>";
    assert_null(s3xml_upload_id(empty, strlen(empty)));
}

static void refused(const char *doc, const char *why)
{
    struct s3xml_doc d;
    if (s3xml_parse(doc, strlen(doc), &d) == 0)
        fail_msg("accepted: %s", doc);
    if (why && !strstr(dv_err(), why))
        fail_msg("'%s': message '%s' lacks '%s'", doc, dv_err(), why);
}

static void test_hostile(void **state)
{
    refused("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
            "\"&lol;&lol;&lol;\">]><Error><Code>&lol2;</Code></Error>",
            "DOCTYPE");
    refused("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>", "DOCTYPE");
    refused("<r>&x;</r>", "unknown entity");
    refused("<r>&amp</r>", "unknown entity");
    refused("<r>&#0;</r>", "character reference");
    refused("<r>&#xD800;</r>", "character reference");
    refused("<r>&#x110000;</r>", "character reference");
    refused("<r>&#1;</r>", "character reference");
    refused("<r>&#x;</r>", "character reference");
    refused("<r>&#123456789;</r>", "character reference");
    refused("<r><![CDATA[x]]></r>", "CDATA");
    refused("<r><!-- c --></r>", "comment");
    refused("<r><?pi x?></r>", "instruction");
    refused("<a></b>", "does not match");
    refused("<a><b></a></b>", "does not match");
    refused("<a>", "does not end");
    refused("<a>text<b/></a>", "text beside");
    refused("<a><b/>text</a>", "text beside");
    refused("<a/><b/>", "after the root");
    refused("<a/>junk", "after the root");
    refused("text", "");
    refused("", "no root");
    refused("<a>\xff</a>", "UTF-8");
    refused("<a>\xc0\xaf</a>", "UTF-8");     /* overlong '/' */
    refused("<a>\xed\xa0\x80</a>", "UTF-8"); /* a surrogate */
    refused("<a>\x01</a>", "control");
    refused("<a b=c/>", "quotes");
    refused("<a b=\"<\"/>", "'<'");
    refused("<a b=\"x\"c=\"y\"/>", "space");
    refused("<1a/>", "name");
    refused("<?xml version=\"1.0\"<a/>", "declaration");
    refused("<a>]]></a>", "]]>");
    /* 17 levels */
    char deep[256] = "";
    for (int i = 0; i < 17; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 17; i++)
        strcat(deep, "</a>");
    refused(deep, "too deep");
    /* 16 are fine */
    deep[0] = 0;
    for (int i = 0; i < 16; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 16; i++)
        strcat(deep, "</a>");
    struct s3xml_doc d;
    assert_int_equal(s3xml_parse(deep, strlen(deep), &d), 0);
    assert_int_equal(d.n, 16);
    s3xml_free(&d);
}

/* every prefix of a real answer is refused, none crashes or reads past its end */
static void test_truncations(void **state)
{
    size_t n = strlen(LIST);
    for (size_t i = 0; i < n; i++) {
        char *cut = dv_malloc(i ? i : 1); /* exactly i bytes: ASan sees a read past them */
        memcpy(cut, LIST, i);
        struct s3_listing l;
        assert_int_equal(s3xml_listing(cut, i, S3_LIST_OBJECTS, &l), -1);
        free(cut);
    }
}

static void test_listing_checks(void **state)
{
    struct s3_listing l;
    const char *notoken = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
    assert_int_equal(s3xml_listing(notoken, strlen(notoken), S3_LIST_OBJECTS, &l), -1);
    assert_non_null(strstr(dv_err(), "continuation"));
    const char *flag = "<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>";
    assert_int_equal(s3xml_listing(flag, strlen(flag), S3_LIST_OBJECTS, &l), -1);
    const char *size = "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
                       "</ListBucketResult>";
    assert_int_equal(s3xml_listing(size, strlen(size), S3_LIST_OBJECTS, &l), -1);
    const char *big = "<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999"
                      "</Size></Contents></ListBucketResult>";
    assert_int_equal(s3xml_listing(big, strlen(big), S3_LIST_OBJECTS, &l), -1);
    const char *nokey = "<ListBucketResult><Contents><Size>1</Size></Contents>"
                        "</ListBucketResult>";
    assert_int_equal(s3xml_listing(nokey, strlen(nokey), S3_LIST_OBJECTS, &l), -1);
    const char *nosize = "<ListBucketResult><Contents><Key>k</Key></Contents>"
                         "</ListBucketResult>";
    assert_int_equal(s3xml_listing(nosize, strlen(nosize), S3_LIST_OBJECTS, &l), -1);
    /* a 1025-byte key */
    char *longkey = dv_malloc(1200);
    strcpy(longkey, "<ListBucketResult><Contents><Key>");
    size_t o = strlen(longkey);
    memset(longkey + o, 'k', 1025);
    strcpy(longkey + o + 1025, "</Key><Size>1</Size></Contents></ListBucketResult>");
    assert_int_equal(s3xml_listing(longkey, strlen(longkey), S3_LIST_OBJECTS, &l), -1);
    free(longkey);
}

/* 1000 entries (a full page) */
static void test_full_page(void **state)
{
    size_t cap = 200000, n = 0;
    char *doc = dv_malloc(cap);
    n += (size_t)snprintf(doc, cap, "<ListBucketResult><IsTruncated>false</IsTruncated>");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "<Contents><Key>nlo/%03x/%d</Key><Size>%d</Size></Contents>",
                              i % 4096, i, i);
    n += (size_t)snprintf(doc + n, cap - n, "</ListBucketResult>");
    struct s3_listing l;
    assert_int_equal(s3xml_listing(doc, n, S3_LIST_OBJECTS, &l), 0);
    assert_int_equal(l.n, 1000);
    assert_string_equal(l.v[999].key, "nlo/3e7/999");
    assert_int_equal(l.v[999].size, 999);
    s3_listing_free(&l);
    free(doc);
}

/* at the limits: 16 MiB of elements is refused (node count) in bounded time and memory; one
 * byte over the size limit is refused unread */
static int huge(void *arg)
{
    size_t n = S3XML_MAX_BYTES;
    char *doc = malloc(n);
    if (!doc)
        return 1;
    memcpy(doc, "<r>", 3);
    for (size_t i = 3; i + 4 <= n - 4; i += 4)
        memcpy(doc + i, "<a/>", 4);
    size_t used = 3 + (n - 8) / 4 * 4;
    memcpy(doc + used, "</r>", 4);
    struct s3xml_doc d;
    int rc = s3xml_parse(doc, used + 4, &d);
    int ok = rc == -1 && strstr(dv_err(), "limit") != NULL;
    rc = s3xml_parse(doc, S3XML_MAX_BYTES + 1, &d);
    ok = ok && rc == -1 && strstr(dv_err(), "over the limit") != NULL;
    free(doc);
    return ok ? 0 : 1;
}

static void test_huge(void **state)
{
    run_bounded("16 MiB of elements", huge, NULL, 10, 512);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_objects),        cmocka_unit_test(test_list_versions_uploads),
        cmocka_unit_test(test_error_and_multipart), cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_truncations),         cmocka_unit_test(test_listing_checks),
        cmocka_unit_test(test_full_page),           cmocka_unit_test(test_huge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
