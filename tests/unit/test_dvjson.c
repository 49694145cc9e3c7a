/* test_dvjson.c - dvjson.h: JSON strings from any bytes, terminal-safe printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dvjson.h"
#include "util.h"

static char *printed(json_t *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(dvjson_print(f, v, 0), 0);
    fclose(f);
    json_decref(v);
    return buf;
}

/* Text for people (--json): quotes, backslashes and C0 controls are JSON escapes (jansson's),
 * DEL and the C1 controls too (never raw on a terminal), a byte that is not UTF-8 the text
 * \xNN; valid UTF-8 is kept as it is. */
static void test_text(void **state)
{
    (void)state;
    char *j = printed(dvjson_text("a\"b\\c\x1b[2J\x7f\xc2\x9b\xe9\xc3\xbc\n"));
    assert_string_equal(j, "\"a\\\"b\\\\c\\u001B[2J\\u007f\\u009b\\\\xe9\xc3\xbc\\n\"");
    free(j);
    j = printed(dvjson_text(NULL));
    assert_string_equal(j, "\"\"");
    free(j);
    /* what a reader gets back is the exact text (the invalid byte aside) */
    json_error_t je;
    json_t *v = json_loads("\"x\\u001B\\u007f\\u009by\"", JSON_DECODE_ANY, &je);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), "x\x1b\x7f\xc2\x9by");
    json_decref(v);
}

/* Files dvault writes (manifests): an invalid byte becomes U+FFFD. */
static void test_str(void **state)
{
    (void)state;
    json_t *v = dvjson_str("caf\xe9 \xed\xa0\x80!");
    assert_string_equal(json_string_value(v),
                        "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
    json_decref(v);
}

/* One line, ", " and ": " separators, keys in the order inserted (the --json layout). */
static void test_layout(void **state)
{
    (void)state;
    json_t *o = dvjson_obj(), *a = dvjson_arr();
    dvjson_set(o, "z", dvjson_int(-1));
    dvjson_set(o, "a", json_true());
    dvjson_append(a, dvjson_int(INT64_C(9007199254740991)));
    dvjson_append(a, json_null());
    dvjson_set(o, "list", a);
    dvjson_set(o, "empty", dvjson_arr());
    char *j = printed(o);
    assert_string_equal(
        j, "{\"z\": -1, \"a\": true, \"list\": [9007199254740991, null], \"empty\": []}");
    free(j);
}

/* The reader's budget: a tree bigger than the bound fails "too big", not "bad syntax". */
static void test_budget(void **state)
{
    (void)state;
    size_t k = 60000, n = 3 * k + 1; /* "[{},{},...,{}]": k empty objects */
    char *text = dv_malloc(n + 1);
    text[0] = '[';
    for (size_t i = 0; i < k; i++)
        memcpy(text + 1 + 3 * i, i + 1 < k ? "{}," : "{}]", 3);
    text[n] = '\0';
    json_error_t je;
    bool big = false;
    json_t *v = dvjson_loadb(text, n, 64 * 1024, &je, &big);
    assert_null(v);
    assert_true(big);
    v = dvjson_loadb(text, n, 0, &je, &big);
    assert_non_null(v);
    assert_false(big);
    json_decref(v);
    free(text);
    /* a syntax error quotes at most a short, escaped excerpt */
    v = dvjson_loadb(
        "{\"a\": \x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b}", 25, 0,
        &je, &big);
    assert_null(v);
    assert_false(big);
    char msg[256];
    dvjson_syntax_msg(&je, msg, sizeof msg);
    for (const char *p = msg; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
