/* catalog_names.c - NLO names and hashes as the catalog stores them (schema 6, docs/catalog.md
 * "Version 6"), and the SQL functions of a catalog connection (catalog_int.h).
 *
 * A canonical NLO name (80 lower-case hex + ".nlo": sha256 of the plaintext, size) is stored
 * as a BLOB key: the 32 hash bytes, one byte n, then the size big-endian in n bytes (the
 * fewest that hold it, at least 1): 34 to 41 bytes instead of 84. memcmp order of keys is the
 * strcmp order of the names (hash first; for one hash, a shorter size is a smaller one). Any
 * other string a database may reference is stored as TEXT as it is; SQLite orders every TEXT
 * before every BLOB. A sha256 of 64 lower-case hex is stored as its 32 bytes. */
#include <stdio.h>
#include <string.h>

#include "catalog_int.h"

/* Lower-case hex digit values + 1 (0: not one); a backup converts every reference. */
static const unsigned char HEXV1[256] = {
    ['0'] = 1, ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static bool all_lhex(const char *s, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= HEXV1[(unsigned char)s[i]] != 0;
    return ok;
}

static void unhex(const char *s, size_t nbytes, unsigned char *out)
{
    for (size_t i = 0; i < nbytes; i++)
        out[i] = (unsigned char)((HEXV1[(unsigned char)s[2 * i]] - 1) << 4 |
                                 (HEXV1[(unsigned char)s[2 * i + 1]] - 1));
}

size_t catalog_name_key(const char *name, size_t len, unsigned char key[CATALOG_KEY_MAX])
{
    if (len != CATALOG_NLO_NAME_LEN || memcmp(name + 80, ".nlo", 4) != 0 || !all_lhex(name, 80))
        return 0;
    unhex(name, 32, key);
    unsigned char sz[8];
    unhex(name + 64, 8, sz);
    size_t skip = 0;
    while (skip < 7 && sz[skip] == 0)
        skip++;
    key[32] = (unsigned char)(8 - skip);
    memcpy(key + 33, sz + skip, 8 - skip);
    return 33 + 8 - skip;
}

static void name_of_key(const unsigned char *k, size_t n, char *out, size_t outn)
{
    static const char d[] = "0123456789abcdef";
    char buf[CATALOG_NLO_NAME_LEN + 1];
    if (n < 34 || n > CATALOG_KEY_MAX || k[32] < 1 || k[32] > 8 || n != 33u + k[32]) {
        /* not a key this module wrote: its hex, cut (never happens in a sound catalog) */
        size_t i = 0;
        for (; i < n && 2 * i + 2 < sizeof buf; i++) {
            buf[2 * i] = d[k[i] >> 4];
            buf[2 * i + 1] = d[k[i] & 15];
        }
        buf[2 * i] = '\0';
    } else {
        for (int i = 0; i < 32; i++) {
            buf[2 * i] = d[k[i] >> 4];
            buf[2 * i + 1] = d[k[i] & 15];
        }
        unsigned char sz[8] = {0};
        memcpy(sz + 8 - k[32], k + 33, k[32]);
        for (int i = 0; i < 8; i++) {
            buf[64 + 2 * i] = d[sz[i] >> 4];
            buf[64 + 2 * i + 1] = d[sz[i] & 15];
        }
        memcpy(buf + 80, ".nlo", 5);
    }
    size_t len = strnlen(buf, sizeof buf); /* a bounded copy: snprintf was 12% of a pass */
    if (outn == 0)
        return;
    if (len >= outn)
        len = outn - 1;
    memcpy(out, buf, len);
    out[len] = '\0';
}

void catalog_bind_name(sqlite3_stmt *s, int i, const char *name)
{
    unsigned char key[CATALOG_KEY_MAX];
    size_t n = name ? catalog_name_key(name, strlen(name), key) : 0;
    if (n)
        sqlite3_bind_blob(s, i, key, (int)n, SQLITE_TRANSIENT);
    else
        catalog_bind_text(s, i, name);
}

void catalog_bind_bound_back(sqlite3_stmt *s, int i, const char *before)
{
    if (before && before[0]) {
        catalog_bind_bound(s, i, before);
        return;
    }
    /* from the last: above every key (at most CATALOG_KEY_MAX bytes) and every TEXT */
    unsigned char top[CATALOG_KEY_MAX + 1];
    memset(top, 0xff, sizeof top);
    sqlite3_bind_blob(s, i, top, (int)sizeof top, SQLITE_TRANSIENT);
}

void catalog_bind_bound(sqlite3_stmt *s, int i, const char *after)
{
    if (!after || !after[0]) {
        /* from the first: '' is below every other TEXT and every BLOB; a plain "name > ?"
           keeps the keyset page a range of the index ("?1 IS NULL OR name > ?1" did not:
           every page scanned from the start) */
        sqlite3_bind_text(s, i, "", 0, SQLITE_STATIC);
        return;
    }
    size_t len = strlen(after);
    unsigned char key[CATALOG_KEY_MAX];
    size_t n = catalog_name_key(after, len, key);
    if (n) {
        sqlite3_bind_blob(s, i, key, (int)n, SQLITE_TRANSIENT);
        return;
    }
    /* a hex prefix (whereis PREFIX, the console's search): names > it are the keys > its
       bytes (an odd digit count padded with 0); past the hash, the hash alone bounds it */
    size_t h = len;
    while (h > 0 && !all_lhex(after, h))
        h--;
    if (h == len && len <= 80) {
        char pad[81];
        size_t hl = len > 64 ? 64 : len;
        memcpy(pad, after, hl);
        if (hl % 2)
            pad[hl++] = '0';
        unhex(pad, hl / 2, key);
        sqlite3_bind_blob(s, i, key, (int)(hl / 2), SQLITE_TRANSIENT);
        return;
    }
    catalog_bind_text(s, i, after);
}

void catalog_col_name(sqlite3_stmt *s, int i, char *out, size_t n)
{
    if (sqlite3_column_type(s, i) == SQLITE_BLOB)
        name_of_key(sqlite3_column_blob(s, i), (size_t)sqlite3_column_bytes(s, i), out, n);
    else
        catalog_col_copy(s, i, out, n);
}

void catalog_bind_sha(sqlite3_stmt *s, int i, const char *hex)
{
    unsigned char b[32];
    if (hex && strlen(hex) == 64 && all_lhex(hex, 64)) {
        unhex(hex, 32, b);
        sqlite3_bind_blob(s, i, b, 32, SQLITE_TRANSIENT);
    } else {
        catalog_bind_text(s, i, hex);
    }
}

void catalog_col_sha(sqlite3_stmt *s, int i, char *out, size_t n)
{
    static const char d[] = "0123456789abcdef";
    if (sqlite3_column_type(s, i) == SQLITE_BLOB && sqlite3_column_bytes(s, i) == 32 && n >= 65) {
        const unsigned char *b = sqlite3_column_blob(s, i);
        for (int k = 0; k < 32; k++) {
            out[2 * k] = d[b[k] >> 4];
            out[2 * k + 1] = d[b[k] & 15];
        }
        out[64] = '\0';
    } else {
        catalog_col_copy(s, i, out, n);
    }
}

/* ---- SQL functions (the migration to version 6; handy in a debugger's shell too) ---- */

static void fn_nlo_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    unsigned char key[CATALOG_KEY_MAX];
    size_t n = t ? catalog_name_key(t, (size_t)sqlite3_value_bytes(argv[0]), key) : 0;
    if (n)
        sqlite3_result_blob(ctx, key, (int)n, SQLITE_TRANSIENT);
    else
        sqlite3_result_value(ctx, argv[0]);
}

static void fn_sha_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    if (sqlite3_value_type(argv[0]) == SQLITE_TEXT && sqlite3_value_bytes(argv[0]) == 64 &&
        all_lhex(t, 64)) {
        unsigned char b[32];
        unhex(t, 32, b);
        sqlite3_result_blob(ctx, b, 32, SQLITE_TRANSIENT);
    } else {
        sqlite3_result_value(ctx, argv[0]);
    }
}

static void fn_nlo_name(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    char out[CATALOG_NLO_NAME_LEN + 1];
    name_of_key(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]), out, sizeof out);
    sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

int catalog_names_register(struct catalog *c)
{
    int f = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    if (sqlite3_create_function(c->db, "dv_nlo_key", 1, f, NULL, fn_nlo_key, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(c->db, "dv_sha_key", 1, f, NULL, fn_sha_key, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(c->db, "dv_nlo_name", 1, f, NULL, fn_nlo_name, NULL, NULL) !=
            SQLITE_OK)
        return catalog_db_err(c, "register functions");
    return 0;
}
