/* dvjson.c - see dvjson.h. */
#include "dvjson.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- jansson's allocator, with a budget ---------------------------------------------- */

/*
 * jansson allocates through these (set once, before main: every jansson value of the process
 * is allocated and freed by them). While untrusted text is read (dvjson_loadb), the thread's
 * budget bounds what the tree may take: a hostile manifest of a million empty objects fails
 * "out of memory" at a bound instead of taking gigabytes.
 */
static _Thread_local size_t jmem_used;
static _Thread_local size_t jmem_limit; /* 0: no budget */
static _Thread_local bool jmem_refused; /* an allocation was refused for the budget */

/* Plain malloc/free underneath (what jansson hands out, json_dumps' text included, may be
 * freed with free()); malloc_usable_size measures a block both ways. */
static void *jmem_alloc(size_t n)
{
    if (jmem_limit && (n > jmem_limit || jmem_used > jmem_limit - n)) {
        jmem_refused = true;
        return NULL;
    }
    void *p = malloc(n);
    if (p)
        jmem_used += malloc_usable_size(p);
    return p;
}

static void jmem_free(void *p)
{
    if (!p)
        return;
    size_t n = malloc_usable_size(p);
    jmem_used = jmem_used >= n ? jmem_used - n : 0;
    free(p);
}

__attribute__((constructor)) static void jmem_init(void)
{
    json_set_alloc_funcs(jmem_alloc, jmem_free);
}

json_t *dvjson_loadb(const char *text, size_t len, size_t mem_limit, json_error_t *je,
                     bool *too_big)
{
    jmem_used = 0;
    jmem_refused = false;
    jmem_limit = mem_limit;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, je);
    jmem_limit = 0;
    if (too_big)
        *too_big = !root && jmem_refused;
    return root;
}

/* ---- writing ------------------------------------------------------------------------- */

/* Length of the valid UTF-8 character at p (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF), or 0 when the byte at p does not begin one. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t k = 0;
    if (*p < 0x80)
        k = 1;
    else if (*p >= 0xc2 && *p <= 0xdf)
        k = 2;
    else if (*p >= 0xe0 && *p <= 0xef)
        k = 3;
    else if (*p >= 0xf0 && *p <= 0xf4)
        k = 4;
    bool ok = k > 0 && (size_t)(end - p) >= k;
    for (size_t i = 1; ok && i < k; i++)
        ok = (p[i] & 0xc0) == 0x80;
    if (ok && k == 3)
        ok = !(p[0] == 0xe0 && p[1] < 0xa0) && !(p[0] == 0xed && p[1] >= 0xa0);
    if (ok && k == 4)
        ok = !(p[0] == 0xf0 && p[1] < 0x90) && !(p[0] == 0xf4 && p[1] >= 0x90);
    return ok ? k : 0;
}

/* s as a JSON string: valid UTF-8 kept as it is; each invalid byte as U+FFFD (fffd) or as
 * the text \xNN. */
static json_t *str_repaired(const char *s, bool fffd)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    json_t *v = json_stringn(s, n);
    if (v)
        return v;
    char *out = dv_malloc(4 * n + 1), *o = out;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t k = utf8_len(p, end);
        if (k) {
            memcpy(o, p, k);
            o += k;
            p += k;
        } else if (fffd) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        } else {
            o += sprintf(o, "\\x%02x", *p++);
        }
    }
    v = json_stringn(out, (size_t)(o - out));
    free(out);
    if (!v)
        abort(); /* valid UTF-8 by construction: only out of memory is left */
    return v;
}

json_t *dvjson_str(const char *s)
{
    return str_repaired(s, true);
}

json_t *dvjson_text(const char *s)
{
    return str_repaired(s, false);
}

json_t *dvjson_int(int64_t v)
{
    json_t *j = json_integer((json_int_t)v);
    if (!j)
        abort();
    return j;
}

json_t *dvjson_obj(void)
{
    json_t *o = json_object();
    if (!o)
        abort();
    return o;
}

json_t *dvjson_arr(void)
{
    json_t *a = json_array();
    if (!a)
        abort();
    return a;
}

void dvjson_set(json_t *o, const char *key, json_t *v)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        abort();
}

void dvjson_append(json_t *a, json_t *v)
{
    if (!v || json_array_append_new(a, v) != 0)
        abort();
}

char *dvjson_dumps(const json_t *v, size_t flags)
{
    char *s = json_dumps(v, flags | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!s)
        abort();
    return s;
}

int dvjson_print(FILE *f, const json_t *v, size_t flags)
{
    char *s = dvjson_dumps(v, flags);
    /* jansson's text is valid UTF-8 and escapes the C0 controls; DEL and U+0080..U+009F
     * (C2 80..C2 9F) can only be inside strings: written as escapes too */
    int rc = 0;
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        bool c1 = c == 0xc2 && (unsigned char)p[1] >= 0x80 && (unsigned char)p[1] <= 0x9f;
        if (c != 0x7f && !c1)
            continue;
        fwrite(run, 1, (size_t)(p - run), f);
        fprintf(f, "\\u%04x", c1 ? (unsigned char)p[1] : c);
        p += c1;
        run = p + 1;
    }
    fputs(run, f);
    free(s);
    if (ferror(f))
        rc = -1;
    return rc;
}

/* ---- reading: messages --------------------------------------------------------------- */

/* At most EXCERPT_MAX bytes of s, escaped (printable ASCII as it is, anything else as \xHH),
 * into out (>= 4 * EXCERPT_MAX + 4): what an error may quote of a file that may be anything. */
#define EXCERPT_MAX 16
static void excerpt(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n && i < EXCERPT_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[k++] = (char)c;
        else
            k += (size_t)sprintf(out + k, "\\x%02x", c);
    }
    if (n > EXCERPT_MAX) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

void dvjson_syntax_msg(const json_error_t *je, char *out, size_t n)
{
    char ex[4 * EXCERPT_MAX + 8];
    const char *near = strstr(je->text, " near '");
    size_t head = near ? (size_t)(near - je->text) : strlen(je->text);
    if (head > 100)
        head = 100;
    if (near) {
        const char *q = near + 7, *end = je->text + strlen(je->text);
        if (end > q && end[-1] == '\'')
            end--;
        excerpt(q, (size_t)(end - q), ex);
        snprintf(out, n, "%.*s near '%s'", (int)head, je->text, ex);
    } else {
        snprintf(out, n, "%.*s", (int)head, je->text);
    }
    for (char *p = out; *p; p++) /* jansson's own words: printable, but be sure */
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
}
